-- Journal pruning (issue #22): the highest MODSEQ pruned from each mailbox's journal;
-- a reader asking for changes since an older MODSEQ must resynchronize from state.
ALTER TABLE mailboxes ADD COLUMN journal_floor INTEGER NOT NULL DEFAULT 0;
-- Orphaned-thread purge: does any message still belong to this thread, and which
-- Message-ID links go with it.
CREATE INDEX messages_thread ON messages(thread);
CREATE INDEX thread_refs_thread ON thread_refs(thread);
