-- A federated sign-in may also start at the user's dashboard, where there is no interaction:
-- such a sign-in in progress is bound to the browser's cookie digest instead, and every row is
-- now found by its state digest. Rows written before keep their interaction and read as before.
CREATE TABLE federated_logins_next (
    -- The interaction it signs in to; NULL for a sign-in at the dashboard.
    interaction_id      TEXT UNIQUE REFERENCES interactions(id) ON DELETE CASCADE,
    provider            TEXT NOT NULL,
    -- SHA-256 digest of the `state` (OIDC) or RelayState (SAML) sent upstream.
    state_hash          TEXT PRIMARY KEY,
    -- What the return needs (nonce, PKCE verifier), sealed with the data key.
    data_sealed         TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    -- SHA-256 digest of the browser-binding cookie, for a sign-in at the dashboard.
    browser_hash        TEXT,
    CHECK ((interaction_id IS NULL) <> (browser_hash IS NULL))
);
INSERT INTO federated_logins_next (interaction_id, provider, state_hash, data_sealed, expires_at)
    SELECT interaction_id, provider, state_hash, data_sealed, expires_at FROM federated_logins;
DROP TABLE federated_logins;
ALTER TABLE federated_logins_next RENAME TO federated_logins;
-- A dashboard's row has no interaction to go with: the sweep removes it once expired.
CREATE INDEX federated_logins_expiry ON federated_logins(expires_at);

-- A SAML request sent for the dashboard has no interaction either.
CREATE TABLE saml_requests_next (
    relay_hash          TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL UNIQUE,
    provider            TEXT NOT NULL,
    -- NULL for a sign-in at the dashboard (its federated_logins row binds the browser).
    interaction_id      TEXT,
    expires_at          INTEGER NOT NULL,
    answered_at         INTEGER,
    identity            TEXT
);
INSERT INTO saml_requests_next SELECT relay_hash, request_id, provider, interaction_id,
    expires_at, answered_at, identity FROM saml_requests;
DROP TABLE saml_requests;
ALTER TABLE saml_requests_next RENAME TO saml_requests;
CREATE INDEX saml_requests_expiry ON saml_requests(expires_at);
