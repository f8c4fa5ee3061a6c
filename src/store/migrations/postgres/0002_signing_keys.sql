-- SQLite's 0014: the signing keys every node signs with and publishes, one sealed document
-- and a version that every change bumps (rotations are conditional updates on it).
CREATE TABLE signing_keys (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    version     BIGINT NOT NULL,
    sealed_keys TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
