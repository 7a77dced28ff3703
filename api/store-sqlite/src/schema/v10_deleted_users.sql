-- Users deleted with a grace period (DELETE /users/{user}?deleteAfter=...). The users
-- row stays (its messages, mailboxes and settings with it) but `deleted` hides it from
-- every lookup and its unameview is replaced by a name no username can have, so the
-- username is free meanwhile; its addresses move into `deleted_users.addresses`.
ALTER TABLE users ADD COLUMN deleted INTEGER;   -- ms since the epoch; NULL: live

CREATE TABLE deleted_users (
    id           BLOB PRIMARY KEY,             -- the user's id
    unameview    TEXT NOT NULL,                -- its unameview before deletion
    deleted      INTEGER NOT NULL,
    delete_after INTEGER NOT NULL,
    addresses    TEXT NOT NULL                 -- JSON array of its address records
);
CREATE INDEX deleted_users_due ON deleted_users(delete_after);
