-- Bank connections made through institution scripts, and what links grants and interactions to them.
CREATE TABLE connections (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The client whose authorization created the connection.
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    institution_id      TEXT NOT NULL,
    -- active | reauth_required
    status              TEXT NOT NULL,
    -- What the institution's script keeps (upstream tokens, references), AES-256-GCM sealed.
    data_sealed         TEXT,
    consent_expires_at  INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX connections_user ON connections(user_id);
CREATE INDEX connections_consent_expiry ON connections(consent_expires_at) WHERE status = 'active';

ALTER TABLE grants ADD COLUMN connection_id TEXT REFERENCES connections(id) ON DELETE CASCADE;
CREATE INDEX grants_connection ON grants(connection_id);

-- The bank journey's progress (chosen institution, consent given, script state), as JSON.
ALTER TABLE interactions ADD COLUMN journey TEXT;
