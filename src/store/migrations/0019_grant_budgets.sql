-- Alby's `expires_in` at authorization: a shorter access-token lifetime for this grant's
-- tokens (never longer than lifetimes.access_token_secs).
ALTER TABLE grants ADD COLUMN access_token_secs INTEGER;

-- A grant's spending budget: at most `budget_limit` (calls, or an amount in minor units) per
-- period; `spent` counts the period that began at `period_start` (UTC). One conditional UPDATE
-- spends, so concurrent requests (on any node) never overspend.
CREATE TABLE grant_budgets (
    grant_id            TEXT PRIMARY KEY REFERENCES grants(id) ON DELETE CASCADE,
    budget_limit        INTEGER NOT NULL,
    unit                TEXT NOT NULL,       -- calls | amount
    period              TEXT NOT NULL,       -- day | week | month | none
    currency            TEXT,
    period_start        INTEGER NOT NULL,
    spent               INTEGER NOT NULL DEFAULT 0,
    updated_at          INTEGER NOT NULL
);
