-- SAML 2.0 SP-initiated logins: one row per AuthnRequest sent to an identity provider, bound
-- to the interaction it signs in, from the redirect to the IdP until the browser is back.
CREATE TABLE saml_requests (
    -- SHA-256 digest of the RelayState sent with the request (it finds the row on return).
    relay_hash          TEXT PRIMARY KEY,
    -- The AuthnRequest's ID: the Response must name it in InResponseTo (SAML Core 3.2.2).
    request_id          TEXT NOT NULL UNIQUE,
    provider            TEXT NOT NULL,
    interaction_id      TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    -- Set when a verified Response answered it: each request is answered once.
    answered_at         INTEGER,
    -- The verified identity (JSON) waiting for the browser to come back with its cookies.
    identity            TEXT
);
CREATE INDEX saml_requests_expiry ON saml_requests(expires_at);
