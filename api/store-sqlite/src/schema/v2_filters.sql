-- Schema version 2: message filters and autoreplies (LMTP delivery rules).

-- A user's filters apply in id order (creation order). The query and the action
-- are JSON (eider_service::FilterQuery / FilterAction): only delivery reads them,
-- whole, and GET /filters?forward= looks into action's targets with json_each.
CREATE TABLE filters (
    id        BLOB PRIMARY KEY,          -- 12-byte ObjectId
    user      BLOB NOT NULL,
    name      TEXT,
    query     TEXT NOT NULL,             -- JSON
    action    TEXT NOT NULL,             -- JSON
    disabled  INTEGER NOT NULL,
    meta_data TEXT NOT NULL,             -- JSON
    created   INTEGER NOT NULL           -- ms since the epoch
);
CREATE INDEX filters_user ON filters(user, id);

-- One autoreply per user.
CREATE TABLE autoreplies (
    user     BLOB PRIMARY KEY,
    id       BLOB NOT NULL,
    status   INTEGER NOT NULL,
    name     TEXT,
    subject  TEXT,
    text     TEXT,
    html     TEXT,
    start_at INTEGER,                    -- ms; NULL: no start check
    end_at   INTEGER,                    -- ms; NULL: no end check
    created  INTEGER                     -- ms
) WITHOUT ROWID;
