-- The change log every node polls to forget what it cached (see src/store/changes.rs).
CREATE TABLE cache_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    change  TEXT NOT NULL
);
CREATE INDEX cache_changes_at ON cache_changes(at);
