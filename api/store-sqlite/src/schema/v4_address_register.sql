-- Schema version 4: the address register (GET /users/{user}/addressregister):
-- addresses a user has sent mail to, one row per normalized address.

-- `terms` holds the lower-cased prefixes an entry is found by (the address, the
-- name and each word of it), each preceded by a newline, so that a prefix query
-- is instr(terms, char(10) || prefix) over the user's rows, newest first.
CREATE TABLE address_register (
    id       BLOB PRIMARY KEY,           -- 12-byte ObjectId
    user     BLOB NOT NULL,
    addrview TEXT NOT NULL,              -- normalized address
    address  TEXT NOT NULL,
    name     TEXT NOT NULL,
    terms    TEXT NOT NULL,
    uses     INTEGER NOT NULL,
    updated  INTEGER NOT NULL,           -- ms since the epoch
    created  INTEGER NOT NULL,
    UNIQUE (user, addrview)
);
CREATE INDEX address_register_recent ON address_register(user, updated);
