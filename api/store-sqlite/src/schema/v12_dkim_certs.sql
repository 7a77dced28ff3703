-- Schema version 12 (the number given to this change; listed after the versions
-- before it): DKIM keys (POST /dkim) and TLS certificates by server name
-- (POST /certs). Private keys are stored sealed by the service.
CREATE TABLE dkim_keys (
    id             BLOB PRIMARY KEY,     -- 12-byte ObjectId
    domain         TEXT NOT NULL UNIQUE, -- Unicode lower case, or '*'
    selector       TEXT NOT NULL,
    description    TEXT,
    algorithm      TEXT NOT NULL,        -- 'rsa' | 'ed25519'
    private_key    TEXT NOT NULL,
    public_key     TEXT NOT NULL,        -- SPKI PEM
    dns_public_key TEXT NOT NULL,        -- the DNS record's p= value
    fingerprint    TEXT NOT NULL,
    created        INTEGER NOT NULL      -- ms since the epoch
);

CREATE TABLE certs (
    id          BLOB PRIMARY KEY,
    servername  TEXT NOT NULL UNIQUE,
    description TEXT,
    cert        TEXT NOT NULL,           -- PEM chain
    private_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    alt_names   TEXT NOT NULL,           -- JSON array
    expires     INTEGER NOT NULL,
    acme        INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);

-- One row: bumped by every change to certs, polled by each instance's SNI cache.
CREATE TABLE certs_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO certs_version (id, version) VALUES (1, 0);
