-- Institution scripts' own key-value storage (storage_get/set/delete/incr): one row per
-- institution and key, visible to that institution's script only, until it expires.
CREATE TABLE plugin_storage (
    institution         TEXT NOT NULL,
    name                TEXT NOT NULL,
    -- The value as JSON text (at most 16 KiB; a counter is a JSON integer).
    value               TEXT NOT NULL,
    expires_at          INTEGER NOT NULL,
    PRIMARY KEY (institution, name)
);
CREATE INDEX plugin_storage_expiry ON plugin_storage(expires_at);
CREATE INDEX plugin_storage_live ON plugin_storage(institution, expires_at);
