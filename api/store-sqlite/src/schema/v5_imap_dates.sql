-- v5: IMAP dates and subscriptions.

-- The Date: header's calendar day as written, in the header's own zone, in days since
-- 1970-01-01: what SENTBEFORE/SENTON/SENTSINCE compare (RFC 3501 6.4.4). NULL without
-- a parseable Date: header, and for rows stored before this version (search then
-- falls back to the UTC day of header_date).
ALTER TABLE messages ADD COLUMN sent_day INTEGER;

-- Subscriptions are names, not mailbox attributes: a name stays subscribed after its
-- mailbox is deleted (RFC 3501 6.3.6) until it is unsubscribed. `mailboxes.subscribed`
-- is no longer read; the subscribed flag of a mailbox is whether its path is here.
CREATE TABLE subscriptions (
    user BLOB NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (user, path)
) WITHOUT ROWID;

INSERT OR IGNORE INTO subscriptions (user, path)
    SELECT user, path FROM mailboxes WHERE subscribed = 1;
