-- Federated sign-ins started at the user's dashboard (see the SQLite migration 0027).
ALTER TABLE federated_logins DROP CONSTRAINT federated_logins_pkey;
ALTER TABLE federated_logins ALTER COLUMN interaction_id DROP NOT NULL;
ALTER TABLE federated_logins ADD CONSTRAINT federated_logins_interaction_id_key UNIQUE (interaction_id);
ALTER TABLE federated_logins ADD PRIMARY KEY (state_hash);
ALTER TABLE federated_logins ADD COLUMN browser_hash TEXT;
ALTER TABLE federated_logins ADD CONSTRAINT federated_logins_bound
    CHECK ((interaction_id IS NULL) <> (browser_hash IS NULL));
CREATE INDEX federated_logins_expiry ON federated_logins(expires_at);

ALTER TABLE saml_requests ALTER COLUMN interaction_id DROP NOT NULL;
