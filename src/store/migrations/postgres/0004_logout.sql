-- SQLite's 0016: back-channel logout notices as a kind of outbox delivery, and the indexes
-- that find a session's grants and a user's sessions.
ALTER TABLE webhook_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
CREATE INDEX grants_sid ON grants(sid) WHERE sid IS NOT NULL;
CREATE INDEX sessions_user ON sessions(user_id);
