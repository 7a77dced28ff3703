-- Schema version 7: storage files (POST /users/{user}/storage), files uploaded
-- while composing. The bytes are a blob (one reference per file row); the size
-- counts in the user's storage_used.
CREATE TABLE files (
    id           BLOB PRIMARY KEY,       -- 12-byte ObjectId
    user         BLOB NOT NULL,
    filename     TEXT,
    content_type TEXT NOT NULL,
    cid          TEXT,
    size         INTEGER NOT NULL,
    blob         BLOB NOT NULL,          -- blobs.hash
    created      INTEGER NOT NULL        -- ms since the epoch
);
CREATE INDEX files_user ON files(user, id);
