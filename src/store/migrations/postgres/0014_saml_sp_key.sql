-- SQLite's 0026: the SAML SP key every node shares, its private key sealed with the data key.
CREATE TABLE saml_sp_key (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    sealed_key TEXT NOT NULL,
    cert_pem   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
