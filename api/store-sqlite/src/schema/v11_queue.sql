-- Schema version 11: the durable work queue (outbound SMTP, webhooks). Dates in ms
-- since the epoch; lease_owner/lease_until NULL when no worker holds the entry.
CREATE TABLE queue (
    id          BLOB PRIMARY KEY,        -- 12-byte ObjectId
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    grp         TEXT NOT NULL,           -- the queue id shared by one submission
    owner       BLOB,
    payload     BLOB NOT NULL,
    not_before  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    last_error  TEXT,
    created     INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER
);
-- Claims scan due entries of a kind (and key) in not_before order.
CREATE INDEX queue_due ON queue(kind, not_before);
CREATE INDEX queue_key ON queue(kind, key, not_before);
CREATE INDEX queue_group ON queue(grp);
