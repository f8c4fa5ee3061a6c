-- Access tokens keyed by jti in one B-tree (no separate rowid table), so an insert writes the
-- end of two trees (this one and the expiry index: jti starts with the issue time) and a
-- lookup by jti reads one. Tokens without a grant (client_credentials) skip the grant index;
-- only data-access tokens (a user but no grant) are in the user index — the others go with
-- their grant.
CREATE TABLE access_tokens_by_jti (
    jti                 TEXT PRIMARY KEY,
    grant_id            TEXT REFERENCES grants(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    user_id             TEXT,
    scopes              TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    revoked_at          INTEGER,
    token_hash          TEXT
) WITHOUT ROWID;
INSERT INTO access_tokens_by_jti
    SELECT jti, grant_id, client_id, user_id, scopes, expires_at, revoked_at, token_hash
    FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_by_jti RENAME TO access_tokens;
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX access_tokens_user ON access_tokens(user_id) WHERE grant_id IS NULL AND user_id IS NOT NULL;
