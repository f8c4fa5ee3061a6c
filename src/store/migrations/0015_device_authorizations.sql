-- RFC 8628 device authorizations: the device code and user code kept only as digests, the
-- validated request (JSON), the polling interval (grown by slow_down, so it holds on every
-- node), and the state: pending, approved (with its grant), denied, or used.
CREATE TABLE device_authorizations (
    id                  TEXT PRIMARY KEY,
    device_code_hash    TEXT NOT NULL UNIQUE,
    user_code_hash      TEXT NOT NULL UNIQUE,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    request             TEXT NOT NULL,
    interval_secs       INTEGER NOT NULL,
    last_polled_at      INTEGER,
    status              TEXT NOT NULL,
    grant_id            TEXT,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL
);
CREATE INDEX device_authorizations_expiry ON device_authorizations(expires_at);
