-- Schema version 3: application passwords, 2FA state, access tokens, authentication log.

-- Application-specific passwords (hashed); `selector` narrows which hashes a login checks.
CREATE TABLE asps (
    id          BLOB PRIMARY KEY,
    user        BLOB NOT NULL,
    description TEXT NOT NULL,
    scopes      TEXT NOT NULL,           -- JSON array
    password    TEXT NOT NULL,           -- password hash
    selector    TEXT NOT NULL,
    ttl         INTEGER,                 -- seconds, NULL for no expiry
    expires     INTEGER,
    created     INTEGER NOT NULL,
    used        INTEGER,                 -- last successful use
    used_event  BLOB,                    -- authlog id of that use
    used_ip     TEXT
);
CREATE INDEX asps_user ON asps(user, id);

-- A user's second factors (TOTP seed, WebAuthn credentials, enabled list) as JSON.
CREATE TABLE two_factor (
    user  BLOB PRIMARY KEY,
    state TEXT NOT NULL
) WITHOUT ROWID;

-- API access tokens by sha256 (the token itself is never stored).
CREATE TABLE access_tokens (
    hash        TEXT PRIMARY KEY,
    user        BLOB NOT NULL,
    created     INTEGER NOT NULL,
    expires     INTEGER NOT NULL,
    pending_2fa INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX access_tokens_user ON access_tokens(user);
CREATE INDEX access_tokens_expires ON access_tokens(expires);

-- Authentication log; similar events within a window are merged (events, last).
CREATE TABLE authlog (
    id             BLOB PRIMARY KEY,
    user           BLOB NOT NULL,
    action         TEXT NOT NULL,
    result         TEXT NOT NULL,
    protocol       TEXT,
    required_scope TEXT,
    source         TEXT,
    asp            BLOB,
    aname          TEXT,
    require2fa     TEXT,
    ip             TEXT,
    sess           TEXT,
    created        INTEGER NOT NULL,
    last           INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    expires        INTEGER NOT NULL,
    key            TEXT NOT NULL
);
CREATE INDEX authlog_user ON authlog(user, id);
CREATE INDEX authlog_key ON authlog(user, key, created);
CREATE INDEX authlog_expires ON authlog(user, expires);
