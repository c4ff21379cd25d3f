-- Alert rules, their durable webhook outbox and the dispatcher's per-account cursor (see
-- src/store/alerts.rs and docs/alerts.md). The signing secret is never stored: it is
-- derived in the HSM from the rule's id and `salt` on each use.
CREATE TABLE alerts (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    name          TEXT COLLATE "C" NOT NULL,
    url           TEXT COLLATE "C" NOT NULL,
    actions       TEXT COLLATE "C" NOT NULL,
    min_severity  TEXT COLLATE "C" NOT NULL,
    enabled       BIGINT NOT NULL,
    salt          BYTEA NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- How far the dispatcher has matched the account's audit events against its rules: moved
-- in the transaction that enqueues the deliveries, conditionally on its old value.
CREATE TABLE alert_cursors (
    account_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id),
    position    BIGINT NOT NULL
);

-- One webhook delivery of one event to one rule. `status`: pending, sending (claimed
-- until `lease_until`), delivered, dead (the dead-letter list).
CREATE TABLE alert_deliveries (
    id            TEXT COLLATE "C" PRIMARY KEY,
    alert_id      TEXT COLLATE "C" NOT NULL,
    account_id    TEXT COLLATE "C" NOT NULL,
    position      BIGINT NOT NULL,
    payload       TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,
    attempts      BIGINT NOT NULL,
    next_at       BIGINT NOT NULL,
    lease_until   BIGINT,
    last_error    TEXT COLLATE "C",
    created_at    BIGINT NOT NULL,
    delivered_at  BIGINT,
    UNIQUE (alert_id, position)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(status, next_at);
CREATE INDEX alert_deliveries_alert ON alert_deliveries(alert_id, status, created_at);
