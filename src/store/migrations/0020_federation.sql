-- Federated login: which local user an upstream identity provider's subject signs in as, and
-- the sign-ins in progress at an upstream provider (one per interaction).
CREATE TABLE federated_identities (
    -- The operator's id of the upstream provider ([[federation.providers]] id).
    provider            TEXT NOT NULL,
    -- The provider's identifier for the user (OIDC `sub`, SAML NameID).
    subject             TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX federated_identities_user ON federated_identities(user_id);

CREATE TABLE federated_logins (
    interaction_id      TEXT PRIMARY KEY REFERENCES interactions(id) ON DELETE CASCADE,
    provider            TEXT NOT NULL,
    -- SHA-256 digest of the `state` (OIDC) or RelayState (SAML) sent upstream.
    state_hash          TEXT NOT NULL,
    -- What the return needs (nonce, PKCE verifier, request id), sealed with the data key.
    data_sealed         TEXT NOT NULL,
    expires_at          INTEGER NOT NULL
);

-- Linking by e-mail finds local users by their e-mail claim.
CREATE INDEX users_email ON users(lower(json_extract(claims, '$.email')));
