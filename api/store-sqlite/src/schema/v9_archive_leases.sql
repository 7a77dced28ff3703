-- Leases: one holder of a named job at a time across runners (eider_service::jobs).
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    expires INTEGER NOT NULL              -- ms since the epoch
);

-- The archive: deleted messages kept until `purge_after`. The columns of `messages`
-- (the row moves here as it is, its content reference included, so contents and
-- blobs stay referenced: integrity.rs counts these rows), plus when it was archived.
-- `id` is the archive's own id (what the API lists and restores); `mailbox` and
-- `uid` are where the message was deleted from.
CREATE TABLE archived (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    oid             BLOB NOT NULL,
    user            BLOB NOT NULL,
    mailbox         BLOB NOT NULL,
    uid             INTEGER NOT NULL,
    modseq          INTEGER NOT NULL,
    flags           TEXT NOT NULL,
    seen            INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    flagged         INTEGER NOT NULL,
    internal_date   INTEGER NOT NULL,
    header_date     INTEGER,
    size            INTEGER NOT NULL,
    thread          BLOB NOT NULL,
    content         INTEGER NOT NULL,
    content_oid     BLOB NOT NULL,
    subject         TEXT NOT NULL,
    message_id      TEXT,
    has_attachments INTEGER NOT NULL,
    expires         INTEGER,
    meta_data       TEXT NOT NULL,
    sent_day        INTEGER,
    archived        INTEGER NOT NULL,
    purge_after     INTEGER NOT NULL
);
CREATE INDEX archived_user ON archived(user, id);
CREATE INDEX archived_user_time ON archived(user, archived);
CREATE INDEX archived_purge ON archived(purge_after);
