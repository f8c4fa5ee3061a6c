-- Upstream token hand-out (partner API GET /users/{id}/connections/{id}/token).

-- One row per connection whose upstream tokens are being refreshed: whoever holds a live lease
-- is the only one refreshing (a rotating refresh token used twice would break the connection).
-- A lease outlives a killed holder only until expires_at. After a failed refresh the row stays,
-- free from the failure's time (expires_at), with why, so requests that were waiting fail
-- the same way.
CREATE TABLE upstream_refresh_leases (
    connection_id       TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    holder              TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    failure             TEXT
);

-- The operator's audit log of hand-outs and refusals; never the token. It outlives the
-- connection, so no foreign keys.
CREATE TABLE token_handouts (
    id                  TEXT PRIMARY KEY,
    at                  INTEGER NOT NULL,
    client_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    connection_id       TEXT NOT NULL,
    institution_id      TEXT,
    -- 1 when this hand-out refreshed the tokens at the institution first.
    refreshed           INTEGER NOT NULL,
    -- handed_out, or the error code of the refusal.
    outcome             TEXT NOT NULL,
    detail              TEXT
);
CREATE INDEX token_handouts_at ON token_handouts(at);
CREATE INDEX token_handouts_client ON token_handouts(client_id, at);
