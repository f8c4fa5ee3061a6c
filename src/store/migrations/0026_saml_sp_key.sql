-- The SAML SP key every node signs AuthnRequests with and whose certificate every node's SP
-- metadata publishes (the IdP registers one certificate): one row, the private key sealed with
-- the operator's data key, the certificate (public) in plain. Stored once; never replaced.
CREATE TABLE saml_sp_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed_key TEXT NOT NULL,
    cert_pem   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
