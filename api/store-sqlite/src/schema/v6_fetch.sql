-- FETCH reads ENVELOPE, BODYSTRUCTURE and the MIME tree of many messages at once.
-- Unpacking the whole compressed index for that (text, html, headers) made a FETCH of
-- ENVELOPE BODYSTRUCTURE over a mailbox 20x slower than a cached Dovecot, so new
-- contents keep them in their own columns and their index leaves the strings out.
-- Contents stored before this script have NULLs here; reads fall back to their index.
ALTER TABLE contents ADD COLUMN imap_envelope TEXT;
ALTER TABLE contents ADD COLUMN imap_bodystructure TEXT;
ALTER TABLE contents ADD COLUMN imap_body TEXT;
-- zstd(JSON(root BodyPart)): section offsets for BODY[n] without the index.
ALTER TABLE contents ADD COLUMN mime BLOB;
