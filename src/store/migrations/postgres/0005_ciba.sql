-- CIBA backchannel authentication requests (see the SQLite migration 0017 for each column).
CREATE TABLE ciba_requests (
    id                  TEXT PRIMARY KEY,
    auth_req_hash       TEXT NOT NULL UNIQUE,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scopes              TEXT NOT NULL,
    acr_values          TEXT,
    binding_message     TEXT,
    delivery_mode       TEXT NOT NULL,
    ping_sealed         TEXT,
    status              TEXT NOT NULL,
    grant_id            TEXT,
    interval_secs       BIGINT NOT NULL,
    last_polled_at      BIGINT,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    consumed_at         BIGINT
);
CREATE INDEX ciba_requests_user ON ciba_requests(user_id, status);
CREATE INDEX ciba_requests_expiry ON ciba_requests(expires_at);

