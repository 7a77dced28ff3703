"""Journal pruning (issue #22): the `journal-prune` job keeps a mailbox's journal
within its retention however many changes it had, and IMAP sessions whose MODSEQ
is older than what the journal still holds resynchronize correctly: an open session
(imaplib NOOP), a QRESYNC SELECT and a CHANGEDSINCE ... VANISHED fetch (raw)."""

import re
import sqlite3
import time

from imaputil import PASSWORD, Raw, make_message, ok, tagged

RETENTION_MS = 1500
MESSAGES = 1000
ROUNDS = 100  # STORE rounds over every message: 100,000 flag changes
EXPUNGED = 10


def journal_stats(server, mailbox_hex, mongo=None):
    """(journal rows of the mailbox, its journal floor), read from the live database."""
    if mongo:
        import pymongo
        from bson import ObjectId
        client = pymongo.MongoClient(mongo, serverSelectionTimeoutMS=5000)
        try:
            db = client.get_default_database()
            mb = ObjectId(mailbox_hex)
            rows = db.journal.count_documents({"mailbox": mb})
            floor = (db.mailboxes.find_one({"_id": mb}) or {}).get("jfloor", 0)
            return rows, floor
        finally:
            client.close()
    db = sqlite3.connect(f"file:{server.data_dir / 'eider.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        mb = bytes.fromhex(mailbox_hex)
        rows = db.execute("SELECT COUNT(*) FROM journal WHERE mailbox = ?", (mb,)).fetchone()[0]
        floor = db.execute("SELECT journal_floor FROM mailboxes WHERE id = ?", (mb,)).fetchone()[0]
        return rows, floor
    finally:
        db.close()


def highest_modseq(lines):
    for l in lines:
        m = re.search(rb"HIGHESTMODSEQ (\d+)", l)
        if m:
            return int(m.group(1))
    raise AssertionError(lines)


def test_journal_stays_within_retention_and_old_sessions_resync(start_eider):
    run(start_eider, MESSAGES, ROUNDS)


def test_journal_prune_on_mongodb(start_eider):
    """The same on the MongoDB store (SecantusDB), with fewer changes: it is slower."""
    import uuid

    from test_scaleout_two_instances import service, with_database
    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_e2e_" + uuid.uuid4().hex)
    run(start_eider, MESSAGES, 2, mongo)


def run(start_eider, messages, rounds, mongo=None):
    import imaplib

    assert messages == MESSAGES  # the expected UID ranges below assume it
    backend = ("--set", 'storage.backend="mongodb"', "--set", f'dbs.mongo="{mongo}"') if mongo else ()
    server = start_eider(extra_args=(
        "--set", f"journal.retention={RETENTION_MS}",
        "--set", "jobs.interval=300",
        *backend,
    ))
    uid = server.create_user("prune", PASSWORD)
    status, body = server.api("GET", f"/users/{uid}/mailboxes")
    inbox = next(m["id"] for m in body["results"] if m["path"] == "INBOX")
    host, port = server.hostport("IMAP")

    writer = imaplib.IMAP4(host, port)
    ok(writer.login("prune", PASSWORD))
    ok(writer.append("INBOX", None, None, make_message(0)))
    ok(writer.select("INBOX"))
    # 1 -> 1024 messages by doubling COPYs, then trim to MESSAGES.
    while int(ok(writer.select("INBOX"))[0]) < MESSAGES:
        ok(writer.copy("1:*", "INBOX"))
    n = int(ok(writer.select("INBOX"))[0])
    if n > MESSAGES:
        ok(writer.store(f"{MESSAGES + 1}:*", "+FLAGS.SILENT", "(\\Deleted)"))
        ok(writer.expunge())

    # The old session: selected now, then silent while the mailbox changes a lot.
    old = imaplib.IMAP4(host, port)
    ok(old.login("prune", PASSWORD))
    ok(old.enable("CONDSTORE"))
    assert int(ok(old.select("INBOX"))[0]) == MESSAGES
    qr = Raw(host, port)
    assert tagged(qr.cmd(f"LOGIN prune {PASSWORD}"))[0] == "OK"
    assert tagged(qr.cmd("ENABLE QRESYNC"))[0] == "OK"
    sel = qr.cmd("SELECT INBOX")
    old_modseq = highest_modseq(sel)
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(sel)).group(1))
    qr.cmd("LOGOUT")
    qr.close()

    started = time.time()
    for i in range(rounds):
        op = "+FLAGS.SILENT" if i % 2 == 0 else "-FLAGS.SILENT"
        ok(writer.store("1:*", op, "($Round)"))
    ok(writer.store(f"1:{EXPUNGED}", "+FLAGS.SILENT", "(\\Deleted)"))
    ok(writer.expunge())
    ok(writer.store("20", "+FLAGS.SILENT", "(\\Flagged)"))
    changes_took = time.time() - started
    rows_after_changes, _ = journal_stats(server, inbox, mongo)

    # The job runs every 300 ms; entries older than 1.5 s go.
    deadline = time.time() + 60
    while True:
        rows, floor = journal_stats(server, inbox, mongo)
        if rows == 0 and floor > old_modseq:
            break
        assert time.time() < deadline, (rows, floor, old_modseq)
        time.sleep(0.3)
    print(f"{'mongodb' if mongo else 'sqlite'}: {MESSAGES * rounds} flag changes in {changes_took:.1f} s; journal rows of the "
          f"mailbox right after: {rows_after_changes}, after pruning: {rows} (floor {floor})")

    # The open session catches up from state: every expunge and flag change reported.
    typ, _ = old.noop()
    assert typ == "OK"
    expunges = old.untagged_responses.pop("EXPUNGE", [])
    assert [int(x) for x in expunges] == [1] * EXPUNGED, expunges
    fetches = old.untagged_responses.pop("FETCH", [])
    assert any(b"\\Flagged" in f for f in fetches), fetches[:3]
    got = ok(old.uid("SEARCH", None, "ALL"))[0].split()
    assert len(got) == MESSAGES - EXPUNGED
    assert int(ok(old.select("INBOX"))[0]) == MESSAGES - EXPUNGED
    # And a NOOP after that finds nothing more (the session moved to the mailbox's MODSEQ).
    ok(old.noop())
    assert "EXPUNGE" not in old.untagged_responses
    old.logout()

    # QRESYNC SELECT from the pruned MODSEQ: VANISHED (EARLIER) names the expunged UIDs
    # (as ranges of UIDs that do not exist), then FETCH for what changed.
    qr = Raw(host, port)
    assert tagged(qr.cmd(f"LOGIN prune {PASSWORD}"))[0] == "OK"
    assert tagged(qr.cmd("ENABLE QRESYNC"))[0] == "OK"
    lines = qr.cmd(f"SELECT INBOX (QRESYNC ({uidvalidity} {old_modseq}))")
    assert tagged(lines)[0] == "OK", lines[-3:]
    vanished = [l for l in lines if l.startswith(b"* VANISHED (EARLIER)")]
    # UIDs 1001-1024 went before the client's MODSEQ: reported too (RFC 7162 allows
    # UIDs the client never saw; the journal can no longer tell them apart).
    assert vanished == [f"* VANISHED (EARLIER) 1:{EXPUNGED},{MESSAGES + 1}:1024".encode()], vanished
    fetched = [l for l in lines if b" FETCH (" in l]
    assert len(fetched) == MESSAGES - EXPUNGED, len(fetched)
    # With known UIDs: only those that are gone among them.
    lines = qr.cmd(f"SELECT INBOX (QRESYNC ({uidvalidity} {old_modseq} 5:15))")
    vanished = [l for l in lines if l.startswith(b"* VANISHED (EARLIER)")]
    assert vanished == [f"* VANISHED (EARLIER) 5:{EXPUNGED}".encode()], vanished
    # UID FETCH ... (CHANGEDSINCE old VANISHED) answers the same way.
    lines = qr.cmd(f"UID FETCH 1:30 (FLAGS) (CHANGEDSINCE {old_modseq} VANISHED)")
    assert tagged(lines)[0] == "OK"
    assert lines[0] == f"* VANISHED (EARLIER) 1:{EXPUNGED}".encode(), lines[:2]
    assert len([l for l in lines if b" FETCH (" in l]) == 30 - EXPUNGED
    qr.cmd("LOGOUT")
    qr.close()
    writer.logout()
