-- The webhook outbox: events are written in the same transaction as the change that causes
-- them and delivered by a background worker; the id is stable so receivers can deduplicate.
CREATE TABLE webhook_events (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    event_type          TEXT NOT NULL,
    -- The exact JSON body delivered: {id, eventType, userId, payload}.
    body                TEXT NOT NULL,
    -- pending | delivered | dead
    status              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt may start; a worker claims an event by moving this forward.
    next_attempt_at     INTEGER NOT NULL,
    last_error          TEXT,
    created_at          INTEGER NOT NULL,
    delivered_at        INTEGER
);
CREATE INDEX webhook_events_due ON webhook_events(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_events_dead ON webhook_events(client_id, created_at) WHERE status = 'dead';

-- The partner API lists a client's users in creation order.
CREATE INDEX users_managed ON users(managed_by_client, created_at);
