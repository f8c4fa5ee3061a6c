-- Logout (OpenID RP-Initiated, Back-Channel and Front-Channel Logout 1.0).
-- Back-channel logout notices travel through the webhook outbox as a second kind of delivery,
-- enqueued in the transaction that ends the session: 'webhook' | 'backchannel_logout'.
ALTER TABLE webhook_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
-- Ending a browser session finds the grants it took part in; ending a user's sessions finds
-- them by user.
CREATE INDEX grants_sid ON grants(sid) WHERE sid IS NOT NULL;
CREATE INDEX sessions_user ON sessions(user_id);
