-- v14: SORT and THREAD keys (RFC 5256, 5957): base subject, first From/To/Cc
-- mailbox, display names, sent date and parent ids, as JSON (eider_message::SortKeys),
-- so SORT and THREAD read one small column per row and never the content.
-- Rows stored before this version have NULL here: the service computes their keys from
-- the stored index the first time a SORT or THREAD needs them and writes them back
-- (a lazy backfill: SQL cannot compute a base subject, and a migration that parsed
-- every stored index would hold the database for minutes on a large store).
ALTER TABLE messages ADD COLUMN sort_keys TEXT;
