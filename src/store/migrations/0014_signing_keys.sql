-- The signing keys every node signs with and publishes: one row holding the whole key set
-- (next, current and retired keys) as one document sealed with the operator's data key, and a
-- version that every change bumps. Nodes poll the version to see a rotation; a rotation is a
-- conditional update on it, so two rotations racing cannot both win.
CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     INTEGER NOT NULL,
    sealed_keys TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
