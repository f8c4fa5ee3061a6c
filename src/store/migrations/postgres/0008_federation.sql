-- Federated login (see the SQLite migration 0020 for each column).
CREATE TABLE federated_identities (
    provider            TEXT NOT NULL,
    subject             TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX federated_identities_user ON federated_identities(user_id);

CREATE TABLE federated_logins (
    interaction_id      TEXT PRIMARY KEY REFERENCES interactions(id) ON DELETE CASCADE,
    provider            TEXT NOT NULL,
    state_hash          TEXT NOT NULL,
    data_sealed         TEXT NOT NULL,
    expires_at          BIGINT NOT NULL
);

CREATE INDEX users_email ON users(lower(claims::jsonb ->> 'email'));
