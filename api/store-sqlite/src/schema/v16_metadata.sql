-- Schema version 15: IMAP METADATA entries (RFC 5464), per user, on the server
-- (mailbox = 12 zero bytes) or on one mailbox. Triggers remove them with their
-- mailbox and with their user, whichever code path deletes those.
CREATE TABLE metadata (
    user    BLOB NOT NULL,
    mailbox BLOB NOT NULL,
    name    TEXT NOT NULL,               -- lower case, "/private/..." or "/shared/..."
    value   BLOB NOT NULL,
    PRIMARY KEY (user, mailbox, name)
) WITHOUT ROWID;
CREATE INDEX metadata_mailbox ON metadata(mailbox);

CREATE TRIGGER metadata_mailbox_deleted AFTER DELETE ON mailboxes
BEGIN
    DELETE FROM metadata WHERE mailbox = OLD.id;
END;

CREATE TRIGGER metadata_user_deleted AFTER DELETE ON users
BEGIN
    DELETE FROM metadata WHERE user = OLD.id;
END;
