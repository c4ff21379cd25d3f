-- Readiness writes one row here: a database that answers reads but refuses writes (read-only
-- file, full disk, a lock held elsewhere) is not ready.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
