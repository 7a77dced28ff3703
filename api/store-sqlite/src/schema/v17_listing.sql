-- A message list (GET .../messages) shows subject, addresses, flags and an intro. It
-- read each row's whole index (text, html) and search text, 400 lists of 20 a second.
-- New contents keep the listing fields (MessageIndex::listing, zstd JSON) here;
-- contents stored before this script have NULL and are listed from their index.
ALTER TABLE contents ADD COLUMN listing BLOB;
