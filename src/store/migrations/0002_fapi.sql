-- Replay cache for single-use JWT ids (client assertions, request objects), and pushed
-- authorization requests (RFC 9126).
CREATE TABLE seen_jtis (
    scope               TEXT NOT NULL,
    jti                 TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    PRIMARY KEY (scope, jti)
);
CREATE INDEX seen_jtis_expiry ON seen_jtis(expires_at);

CREATE TABLE pushed_requests (
    id_hash             TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    request             TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    used_at             INTEGER
);
CREATE INDEX pushed_requests_expiry ON pushed_requests(expires_at);
