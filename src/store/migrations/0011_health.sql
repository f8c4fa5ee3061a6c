-- One row that /readyz rewrites: readiness is proven by a real write, so a full disk or a
-- read-only database shows.
CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
