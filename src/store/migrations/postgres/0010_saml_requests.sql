-- SAML 2.0 AuthnRequests in flight (see the SQLite migration 0022 for each column).
CREATE TABLE saml_requests (
    relay_hash          TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL UNIQUE,
    provider            TEXT NOT NULL,
    interaction_id      TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    answered_at         BIGINT,
    identity            TEXT
);
CREATE INDEX saml_requests_expiry ON saml_requests(expires_at);
