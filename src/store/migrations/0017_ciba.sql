-- CIBA (OpenID Client-Initiated Backchannel Authentication Core 1.0): one row per backchannel
-- authentication request, from the client's request to the token its auth_req_id buys.
CREATE TABLE ciba_requests (
    -- The id the approval page names the request by (never the auth_req_id).
    id                  TEXT PRIMARY KEY,
    -- SHA-256 digest of the auth_req_id handed to the client.
    auth_req_hash       TEXT NOT NULL UNIQUE,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scopes              TEXT NOT NULL,
    acr_values          TEXT,
    binding_message     TEXT,
    -- poll | ping
    delivery_mode       TEXT NOT NULL,
    -- Ping mode: the auth_req_id and client_notification_token, sealed with the data key.
    ping_sealed         TEXT,
    -- pending | approved | denied
    status              TEXT NOT NULL,
    grant_id            TEXT,
    interval_secs       INTEGER NOT NULL,
    last_polled_at      INTEGER,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    consumed_at         INTEGER
);
CREATE INDEX ciba_requests_user ON ciba_requests(user_id, status);
CREATE INDEX ciba_requests_expiry ON ciba_requests(expires_at);

