CREATE TABLE users (
    id            BLOB PRIMARY KEY,      -- 12-byte ObjectId
    username      TEXT NOT NULL,
    unameview     TEXT NOT NULL UNIQUE,
    name          TEXT,
    address       TEXT NOT NULL,
    password      TEXT,
    quota         INTEGER NOT NULL,
    storage_used  INTEGER NOT NULL,
    disabled      INTEGER NOT NULL,
    suspended     INTEGER NOT NULL,
    tags          TEXT NOT NULL,         -- JSON array
    meta_data     TEXT NOT NULL,         -- JSON
    internal_data TEXT NOT NULL,         -- JSON
    profile       TEXT NOT NULL,         -- JSON (UserProfile)
    created       INTEGER NOT NULL       -- ms since the epoch, like every date here
);

CREATE TABLE addresses (
    id            BLOB PRIMARY KEY,
    user          BLOB,                  -- NULL for forwarded addresses
    address       TEXT NOT NULL,
    addrview      TEXT NOT NULL UNIQUE,
    name          TEXT,
    main          INTEGER NOT NULL,
    tags          TEXT NOT NULL,
    targets       TEXT NOT NULL,
    forwards      INTEGER,
    meta_data     TEXT NOT NULL,
    internal_data TEXT NOT NULL,
    created       INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses(user);

CREATE TABLE domain_aliases (
    id      BLOB PRIMARY KEY,
    alias   TEXT NOT NULL UNIQUE,
    domain  TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE mailboxes (
    id           BLOB PRIMARY KEY,
    user         BLOB NOT NULL,
    path         TEXT NOT NULL,
    special_use  TEXT,
    uid_validity INTEGER NOT NULL,
    uid_next     INTEGER NOT NULL,
    modify_index INTEGER NOT NULL,
    subscribed   INTEGER NOT NULL,
    retention    INTEGER NOT NULL,
    hidden       INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    -- Kept in step by every message change: the row is written anyway for MODSEQ,
    -- so STATUS and the API's counters cost one row read.
    total        INTEGER NOT NULL DEFAULT 0,
    unseen       INTEGER NOT NULL DEFAULT 0,
    size         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user, path)
);

CREATE TABLE threads (
    id      BLOB PRIMARY KEY,
    user    BLOB NOT NULL,
    subject TEXT NOT NULL,               -- normalized thread subject
    updated INTEGER NOT NULL
);
CREATE INDEX threads_subject ON threads(user, subject, updated);

-- Message-ID / References ids seen by a user, and the thread they belong to.
CREATE TABLE thread_refs (
    user   BLOB NOT NULL,
    ref    TEXT NOT NULL,
    thread BLOB NOT NULL,
    PRIMARY KEY (user, ref)
) WITHOUT ROWID;

-- Content-addressed decoded bytes (attachments and message skeletons).
CREATE TABLE blobs (
    hash       BLOB PRIMARY KEY,         -- sha256
    length     INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    refcount   INTEGER NOT NULL          -- number of contents referencing it
) WITHOUT ROWID;

CREATE TABLE blob_chunks (
    hash       BLOB NOT NULL,
    idx        INTEGER NOT NULL,
    compressed INTEGER NOT NULL,         -- 1: zstd frame, 0: raw bytes
    data       BLOB NOT NULL,
    UNIQUE (hash, idx)
);

-- What copies of a message share: index, layout and the skeleton blob.
CREATE TABLE contents (
    id       INTEGER PRIMARY KEY,        -- also the rowid of content_text
    oid      BLOB NOT NULL,              -- the ObjectId shown as MessageMeta.content
    skeleton BLOB NOT NULL,              -- blob hash
    layout   TEXT NOT NULL,              -- JSON
    idx      BLOB NOT NULL,              -- zstd(JSON(MessageIndex)), search text left out
    refcount INTEGER NOT NULL            -- number of message rows pointing here
);

-- Every blob a content references, the skeleton included, once.
CREATE TABLE content_blobs (
    content INTEGER NOT NULL,
    blob    BLOB NOT NULL,
    PRIMARY KEY (content, blob)
) WITHOUT ROWID;

-- Search text of each content. Trigrams without positions (detail=none): the index
-- only finds candidates holding all trigrams of a needle, which search.rs confirms
-- exactly on the stored text; a fraction of the size and write cost of detail=full.
CREATE VIRTUAL TABLE content_text USING fts5(
    headers, body, tokenize = 'trigram case_sensitive 0', detail = none
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    oid             BLOB NOT NULL UNIQUE,
    user            BLOB NOT NULL,
    mailbox         BLOB NOT NULL,
    uid             INTEGER NOT NULL,
    modseq          INTEGER NOT NULL,
    flags           TEXT NOT NULL,       -- canonical flags separated by spaces
    seen            INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    flagged         INTEGER NOT NULL,
    internal_date   INTEGER NOT NULL,
    header_date     INTEGER,
    size            INTEGER NOT NULL,
    thread          BLOB NOT NULL,
    content         INTEGER NOT NULL,    -- contents.id
    content_oid     BLOB NOT NULL,       -- contents.oid, copied so listings need no join
    subject         TEXT NOT NULL,
    message_id      TEXT,
    has_attachments INTEGER NOT NULL,
    expires         INTEGER,
    meta_data       TEXT NOT NULL,
    UNIQUE (mailbox, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox, modseq);
CREATE INDEX messages_expires ON messages(expires) WHERE expires IS NOT NULL;
CREATE INDEX messages_message_id ON messages(mailbox, message_id) WHERE message_id IS NOT NULL;

-- AUTOINCREMENT: ids are never reused, even after the newest rows are deleted,
-- because SSE clients resume from them.
CREATE TABLE journal (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user    BLOB NOT NULL,
    mailbox BLOB NOT NULL,
    modseq  INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    uid     INTEGER,
    message BLOB,
    flags   TEXT,
    path    TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX journal_mailbox ON journal(mailbox, modseq);
CREATE INDEX journal_user ON journal(user, id);
