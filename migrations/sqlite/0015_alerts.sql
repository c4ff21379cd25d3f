-- Alert rules, their durable webhook outbox and the dispatcher's per-account cursor (see
-- src/store/alerts.rs and docs/alerts.md). The signing secret is never stored: it is
-- derived in the HSM from the rule's id and `salt` on each use.
CREATE TABLE alerts (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    name          TEXT NOT NULL,
    url           TEXT NOT NULL,
    actions       TEXT NOT NULL,
    min_severity  TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    salt          BLOB NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- How far the dispatcher has matched the account's audit events against its rules: moved
-- in the transaction that enqueues the deliveries, conditionally on its old value.
CREATE TABLE alert_cursors (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id),
    position    INTEGER NOT NULL
);

-- One webhook delivery of one event to one rule. `status`: pending, sending (claimed
-- until `lease_until`), delivered, dead (the dead-letter list).
CREATE TABLE alert_deliveries (
    id            TEXT PRIMARY KEY,
    alert_id      TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    position      INTEGER NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    next_at       INTEGER NOT NULL,
    lease_until   INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    delivered_at  INTEGER,
    UNIQUE (alert_id, position)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(status, next_at);
CREATE INDEX alert_deliveries_alert ON alert_deliveries(alert_id, status, created_at);

