-- Schema version 13: runtime settings, domain access lists and webhooks.
CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,               -- JSON
    created INTEGER NOT NULL
);

CREATE TABLE domain_access (
    id      BLOB PRIMARY KEY,            -- 12-byte ObjectId
    tag     TEXT NOT NULL,
    tagview TEXT NOT NULL,               -- lower-cased tag
    domain  TEXT NOT NULL,               -- normalized domain or address
    action  TEXT NOT NULL,               -- 'allow' | 'block'
    created INTEGER NOT NULL
);
CREATE UNIQUE INDEX domain_access_tag_domain ON domain_access(tagview, domain);
CREATE INDEX domain_access_domain ON domain_access(domain);

CREATE TABLE webhooks (
    id      BLOB PRIMARY KEY,
    user    BLOB,                        -- NULL: every user's events
    url     TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX webhooks_user ON webhooks(user);
-- One row per type pattern of a webhook (a webhook matches an event by any of them).
CREATE TABLE webhook_types (
    webhook BLOB NOT NULL,
    pattern TEXT NOT NULL,
    PRIMARY KEY (pattern, webhook)
);
CREATE INDEX webhook_types_webhook ON webhook_types(webhook);
