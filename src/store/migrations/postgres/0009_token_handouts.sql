-- Upstream token hand-out (see the SQLite migration 0021 for each column).
CREATE TABLE upstream_refresh_leases (
    connection_id       TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    holder              TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    failure             TEXT
);

CREATE TABLE token_handouts (
    id                  TEXT PRIMARY KEY,
    at                  BIGINT NOT NULL,
    client_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    connection_id       TEXT NOT NULL,
    institution_id      TEXT,
    refreshed           BIGINT NOT NULL,
    outcome             TEXT NOT NULL,
    detail              TEXT,
    rowid               BIGSERIAL NOT NULL
);
CREATE INDEX token_handouts_at ON token_handouts(at);
CREATE INDEX token_handouts_client ON token_handouts(client_id, at);
