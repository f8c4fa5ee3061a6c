-- The whole schema as SQLite's migrations 0001-0013 leave it, for PostgreSQL. Integers are
-- BIGINT (the provider reads every integer as i64); `rowid` columns give the rows SQLite
-- orders by rowid the same order of insertion here.
CREATE TABLE clients (
    id                      TEXT PRIMARY KEY,
    secret_hash             TEXT,
    metadata                TEXT NOT NULL,
    registration_hash       TEXT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    secret_sealed           TEXT,
    disabled_at             BIGINT,
    webhook_secret_sealed   TEXT
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT UNIQUE,
    password_hash       TEXT,
    claims              TEXT NOT NULL DEFAULT '{}',
    managed_by_client   TEXT,
    client_user_id      TEXT,
    created_at          BIGINT NOT NULL,
    rowid               BIGSERIAL NOT NULL
);
CREATE INDEX users_managed ON users(managed_by_client, created_at);

CREATE TABLE sessions (
    id_hash             TEXT PRIMARY KEY,
    sid                 TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time           BIGINT NOT NULL,
    amr                 TEXT NOT NULL,
    expires_at          BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE interactions (
    id                  TEXT PRIMARY KEY,
    browser_hash        TEXT NOT NULL,
    csrf_token          TEXT NOT NULL,
    request             TEXT NOT NULL,
    user_id             TEXT,
    auth_time           BIGINT,
    amr                 TEXT,
    sid                 TEXT,
    expires_at          BIGINT NOT NULL,
    completed_at        BIGINT,
    journey             TEXT
);
CREATE INDEX interactions_expiry ON interactions(expires_at);

CREATE TABLE consents (
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes              TEXT NOT NULL,
    granted_at          BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE connections (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    institution_id      TEXT NOT NULL,
    status              TEXT NOT NULL,
    data_sealed         TEXT,
    consent_expires_at  BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    rowid               BIGSERIAL NOT NULL
);
CREATE INDEX connections_user ON connections(user_id);
CREATE INDEX connections_consent_expiry ON connections(consent_expires_at) WHERE status = 'active';

CREATE TABLE grants (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id             TEXT REFERENCES users(id) ON DELETE CASCADE,
    scopes              TEXT NOT NULL,
    claims              TEXT,
    auth_time           BIGINT,
    amr                 TEXT,
    acr                 TEXT,
    sid                 TEXT,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    revoked_at          BIGINT,
    connection_id       TEXT REFERENCES connections(id) ON DELETE CASCADE
);
CREATE INDEX grants_expiry ON grants(expires_at);
CREATE INDEX grants_connection ON grants(connection_id);

CREATE TABLE authorization_codes (
    code_hash           TEXT PRIMARY KEY,
    grant_id            TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    redirect_uri        TEXT NOT NULL,
    code_challenge      TEXT,
    nonce               TEXT,
    expires_at          BIGINT NOT NULL,
    consumed_at         BIGINT,
    dpop_jkt            TEXT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);
CREATE INDEX authorization_codes_grant ON authorization_codes(grant_id);

CREATE TABLE access_tokens (
    jti                 TEXT PRIMARY KEY,
    grant_id            TEXT REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    user_id             TEXT,
    scopes              TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    revoked_at          BIGINT,
    token_hash          TEXT
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX access_tokens_user ON access_tokens(user_id) WHERE grant_id IS NULL AND user_id IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash          TEXT PRIMARY KEY,
    grant_id            TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    rotated_at          BIGINT,
    jkt                 TEXT,
    x5t                 TEXT,
    successor_hash      TEXT,
    successor_jti       TEXT,
    superseded_at       BIGINT
);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

CREATE TABLE seen_jtis (
    scope               TEXT NOT NULL,
    jti                 TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    PRIMARY KEY (scope, jti)
);
CREATE INDEX seen_jtis_expiry ON seen_jtis(expires_at);

CREATE TABLE pushed_requests (
    id_hash             TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    request             TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    used_at             BIGINT
);
CREATE INDEX pushed_requests_expiry ON pushed_requests(expires_at);

CREATE TABLE webhook_events (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    event_type          TEXT NOT NULL,
    body                TEXT NOT NULL,
    status              TEXT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    delivered_at        BIGINT,
    rowid               BIGSERIAL NOT NULL
);
CREATE INDEX webhook_events_due ON webhook_events(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_events_dead ON webhook_events(client_id, created_at) WHERE status = 'dead';

CREATE TABLE health (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    checked_at BIGINT NOT NULL
);

CREATE TABLE login_failures (
    key_hash    TEXT PRIMARY KEY,
    failures    BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX login_failures_expiry ON login_failures (expires_at);
