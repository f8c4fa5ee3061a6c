-- Core provider schema: clients, users, browser sessions, interactions, consents, grants and tokens.
CREATE TABLE clients (
    id                  TEXT PRIMARY KEY,
    secret_hash         TEXT,
    metadata            TEXT NOT NULL,
    registration_hash   TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT UNIQUE,
    password_hash       TEXT,
    claims              TEXT NOT NULL DEFAULT '{}',
    managed_by_client   TEXT,
    client_user_id      TEXT,
    created_at          INTEGER NOT NULL
);

-- Browser sessions; the cookie carries the id, the table keeps its digest.
CREATE TABLE sessions (
    id_hash             TEXT PRIMARY KEY,
    sid                 TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time           INTEGER NOT NULL,
    amr                 TEXT NOT NULL,
    expires_at          INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- A validated authorization request waiting for login and consent.
CREATE TABLE interactions (
    id                  TEXT PRIMARY KEY,
    browser_hash        TEXT NOT NULL,
    csrf_token          TEXT NOT NULL,
    request             TEXT NOT NULL,
    user_id             TEXT,
    auth_time           INTEGER,
    amr                 TEXT,
    sid                 TEXT,
    expires_at          INTEGER NOT NULL,
    completed_at        INTEGER
);
CREATE INDEX interactions_expiry ON interactions(expires_at);

CREATE TABLE consents (
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes              TEXT NOT NULL,
    granted_at          INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- One grant per completed authorization (or client-credentials issuance); tokens hang off it.
CREATE TABLE grants (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id             TEXT REFERENCES users(id) ON DELETE CASCADE,
    scopes              TEXT NOT NULL,
    claims              TEXT,
    auth_time           INTEGER,
    amr                 TEXT,
    acr                 TEXT,
    sid                 TEXT,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    revoked_at          INTEGER
);
CREATE INDEX grants_expiry ON grants(expires_at);

CREATE TABLE authorization_codes (
    code_hash           TEXT PRIMARY KEY,
    grant_id            TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    redirect_uri        TEXT NOT NULL,
    code_challenge      TEXT,
    nonce               TEXT,
    expires_at          INTEGER NOT NULL,
    consumed_at         INTEGER
);
CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);

CREATE TABLE access_tokens (
    jti                 TEXT PRIMARY KEY,
    grant_id            TEXT REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    user_id             TEXT,
    scopes              TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    revoked_at          INTEGER
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id);

CREATE TABLE refresh_tokens (
    token_hash          TEXT PRIMARY KEY,
    grant_id            TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    rotated_at          INTEGER
);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);
