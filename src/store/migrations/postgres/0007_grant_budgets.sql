-- Grant budgets and per-grant access-token lifetimes (see the SQLite migration 0019).
ALTER TABLE grants ADD COLUMN access_token_secs BIGINT;
CREATE TABLE grant_budgets (
    grant_id            TEXT PRIMARY KEY REFERENCES grants(id) ON DELETE CASCADE,
    budget_limit        BIGINT NOT NULL,
    unit                TEXT NOT NULL,
    period              TEXT NOT NULL,
    currency            TEXT,
    period_start        BIGINT NOT NULL,
    spent               BIGINT NOT NULL DEFAULT 0,
    updated_at          BIGINT NOT NULL
);
