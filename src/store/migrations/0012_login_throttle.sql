-- Login failure counters, shared by every node: one row per (account, client address) and one
-- per client address, keyed by a digest (typed usernames may be mistyped passwords). A row
-- expires `window` seconds after its last failure; the last failure's time is derived from it.
CREATE TABLE login_failures (
    key_hash    TEXT PRIMARY KEY,
    failures    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_failures_expiry ON login_failures (expires_at);
