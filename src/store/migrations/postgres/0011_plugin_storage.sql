-- Institution scripts' key-value storage (see the SQLite migration 0023 for each column).
CREATE TABLE plugin_storage (
    institution         TEXT NOT NULL,
    name                TEXT NOT NULL,
    value               TEXT NOT NULL,
    expires_at          BIGINT NOT NULL,
    PRIMARY KEY (institution, name)
);
CREATE INDEX plugin_storage_expiry ON plugin_storage(expires_at);
CREATE INDEX plugin_storage_live ON plugin_storage(institution, expires_at);
