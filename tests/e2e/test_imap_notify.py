"""NOTIFY (RFC 5465): events arrive while the client sends nothing. STATUS for
mailboxes that are not selected, EXISTS/FETCH/EXPUNGE for the selected one, LIST
for mailbox names and subscriptions; and across two instances (MongoDB +
Redis), where the change is made on the other instance."""

import imaplib
import time

from imaputil import PASSWORD, SIMPLE, Raw, make_message, ok, raw_login, tagged
from lmtp_support import deliver
from test_scaleout_two_instances import cluster  # noqa: F401 (fixture)

ALL_EVENTS = "(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)"


def lines_until(r, predicate, timeout=3.0):
    """Untagged lines read (without sending anything) until one satisfies predicate."""
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r.sock.settimeout(max(0.05, deadline - time.monotonic()))
            line = r.readline()
            seen.append(line)
            if predicate(line):
                return seen
    except (TimeoutError, OSError):
        pass
    finally:
        r.sock.settimeout(10)
    raise AssertionError(f"no matching line in {seen!r}")


def quiet(r, seconds=0.5):
    """Lines that arrive within `seconds` (expected: none)."""
    seen = []
    r.sock.settimeout(seconds)
    try:
        while True:
            seen.append(r.readline())
    except (TimeoutError, OSError):
        pass
    finally:
        r.sock.settimeout(10)
    return seen


def other(eider, user="alice"):
    m = imaplib.IMAP4(*eider.hostport("IMAP"))
    ok(m.login(user, PASSWORD))
    return m


def test_events_reach_a_quiet_session(eider):
    r = raw_login(eider)
    assert tagged(r.cmd("CREATE Other"))[0] == "OK"
    assert tagged(r.cmd("SELECT INBOX"))[0] == "OK"
    lines = r.cmd(f"NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal {ALL_EVENTS})")
    assert tagged(lines)[0] == "OK", lines
    m = other(eider)

    # A message in a mailbox that is not selected: STATUS, unasked.
    ok(m.append("Other", None, None, make_message(1)))
    seen = lines_until(r, lambda l: l.startswith(b'* STATUS "Other"'))
    status = seen[-1]
    for item in (b"MESSAGES 1", b"UIDNEXT 2", b"UIDVALIDITY", b"HIGHESTMODSEQ", b"UNSEEN 1"):
        assert item in status, status

    # A message in the selected mailbox: EXISTS, then the FETCH asked for.
    ok(m.append("INBOX", None, None, SIMPLE))
    seen = lines_until(r, lambda l: b"FETCH" in l)
    assert b"* 1 EXISTS" in seen, seen
    assert seen[-1] == b"* 1 FETCH (UID 1 FLAGS (\\Recent))", seen

    # A flag change in the selected mailbox, and one elsewhere.
    ok(m.select("INBOX"))
    ok(m.store("1", "+FLAGS", "(\\Flagged)"))
    seen = lines_until(r, lambda l: b"FETCH" in l)
    assert seen[-1].startswith(b"* 1 FETCH (") and b"\\Flagged" in seen[-1], seen
    ok(m.select("Other"))
    ok(m.store("1", "+FLAGS", "(\\Seen)"))
    seen = lines_until(r, lambda l: l.startswith(b'* STATUS "Other"'))
    assert b"UNSEEN 0" in seen[-1], seen

    # Mailbox names: created, renamed (with OLDNAME), deleted.
    ok(m.create("Fresh"))
    assert lines_until(r, lambda l: b"LIST" in l)[-1] == b'* LIST () "/" "Fresh"'
    ok(m.rename("Fresh", "Renamed"))
    line = lines_until(r, lambda l: b"LIST" in l)[-1]
    assert line == b'* LIST () "/" "Renamed" ("OLDNAME" ("Fresh"))', line
    ok(m.delete("Renamed"))
    assert lines_until(r, lambda l: b"LIST" in l)[-1] == b'* LIST (\\NonExistent) "/" "Renamed"'

    # Subscriptions.
    ok(m.subscribe("Other"))
    assert lines_until(r, lambda l: b"LIST" in l)[-1] == b'* LIST (\\Subscribed) "/" "Other"'
    ok(m.unsubscribe("Other"))
    assert lines_until(r, lambda l: b"LIST" in l)[-1] == b'* LIST () "/" "Other"'

    # An expunge in the selected mailbox is pushed too (`selected`, not delayed).
    ok(m.select("INBOX"))
    ok(m.store("1", "+FLAGS", "(\\Deleted)"))
    ok(m.expunge())
    assert lines_until(r, lambda l: l.endswith(b"EXPUNGE"))[-1] == b"* 1 EXPUNGE"

    # NOTIFY NONE: silence again.
    assert tagged(r.cmd("NOTIFY NONE"))[0] == "OK"
    ok(m.append("Other", None, None, make_message(2)))
    assert quiet(r) == []
    # ... and the session still works.
    assert tagged(r.cmd("NOOP"))[0] == "OK"
    m.logout()


def test_selected_delayed_holds_expunges(eider):
    r = raw_login(eider)
    m = other(eider, "alice")
    ok(m.append("INBOX", None, None, make_message(1)))
    assert tagged(r.cmd("SELECT INBOX"))[0] == "OK"
    lines = r.cmd("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
    assert tagged(lines)[0] == "OK", lines
    ok(m.select("INBOX"))
    ok(m.store("1", "+FLAGS", "(\\Deleted)"))
    ok(m.expunge())
    ok(m.append("INBOX", None, None, make_message(2)))
    # The new message is announced; the expunge waits for a command that allows it.
    seen = lines_until(r, lambda l: l.endswith(b"EXISTS"))
    assert b"* 2 EXISTS" in seen and not any(l.endswith(b"EXPUNGE") for l in seen), seen
    assert not any(l.endswith(b"EXPUNGE") for l in quiet(r))
    lines = r.cmd("NOOP")
    assert b"* 1 EXPUNGE" in lines, lines
    m.logout()


def test_status_option_filters_and_errors(eider):
    r = raw_login(eider)
    assert tagged(r.cmd("CREATE Lists/a"))[0] == "OK"
    assert tagged(r.cmd("CREATE Lists/b"))[0] == "OK"
    assert tagged(r.cmd("CREATE Elsewhere"))[0] == "OK"
    # NOTIFY SET STATUS: the current STATUS of each watched mailbox, now.
    lines = r.cmd("NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge))")
    assert tagged(lines)[0] == "OK", lines
    statuses = sorted(l for l in lines if l.startswith(b"* STATUS"))
    # The subtree holds Lists itself (created as the parent) and its children.
    names = [s.split(b" (")[0] for s in statuses]
    assert names == [b'* STATUS "Lists"', b'* STATUS "Lists/a"', b'* STATUS "Lists/b"'], lines
    assert b"MESSAGES 0 UIDNEXT 1 UIDVALIDITY" in statuses[0]
    # Only the subtree is watched.
    m = other(eider)
    ok(m.append("Elsewhere", None, None, make_message(1)))
    ok(m.append("Lists/b", None, None, make_message(2)))
    seen = lines_until(r, lambda l: l.startswith(b"* STATUS"))
    assert seen[-1].startswith(b'* STATUS "Lists/b" (MESSAGES 1 '), seen
    assert not any(b"Elsewhere" in l for l in seen + quiet(r))
    # Refusals: events we do not report, rules of RFC 5465 5.
    lines = r.cmd("NOTIFY SET (personal (MailboxMetadata))")
    assert tagged(lines)[0] == "NO" and "[BADEVENT (" in tagged(lines)[1], lines
    assert tagged(r.cmd("NOTIFY SET (personal (MessageNew))"))[0] == "BAD"
    assert tagged(r.cmd("NOTIFY SET (personal (FlagChange))"))[0] == "BAD"
    assert tagged(r.cmd("NOTIFY SET (personal (MessageNew (UID) MessageExpunge))"))[0] == "BAD"
    assert tagged(r.cmd("NOTIFY SET (nowhere (MessageNew MessageExpunge))"))[0] == "BAD"
    assert tagged(r.cmd("NOTIFY"))[0] == "BAD"
    # Before login: refused.
    anon = Raw(*eider.hostport("IMAP"))
    assert tagged(anon.cmd("NOTIFY NONE"))[0] == "BAD"
    m.logout()


def test_notify_events_during_idle(eider):
    r = raw_login(eider)
    assert tagged(r.cmd("CREATE Other"))[0] == "OK"
    assert tagged(r.cmd("SELECT INBOX"))[0] == "OK"
    assert tagged(r.cmd("NOTIFY SET (inboxes (MessageNew MessageExpunge)) (mailboxes Other (MessageNew MessageExpunge))"))[0] == "OK"
    r.send("i1 IDLE\r\n")
    assert r.readline().startswith(b"+ ")
    m = other(eider)
    ok(m.append("Other", None, None, make_message(1)))
    assert lines_until(r, lambda l: l.startswith(b'* STATUS "Other"'))[-1].startswith(b'* STATUS "Other" (MESSAGES 1')
    ok(m.append("INBOX", None, None, make_message(2)))
    assert b"* 1 EXISTS" in lines_until(r, lambda l: l.endswith(b"EXISTS"))
    r.send("DONE\r\n")
    assert tagged(r.until_tagged("i1"))[0] == "OK"
    m.logout()


def test_notify_across_two_instances(cluster):  # noqa: F811
    a, b = cluster(), cluster()
    a.create_user("alice", PASSWORD, address="alice@example.com")
    r = Raw(*a.hostport("IMAP"))
    assert tagged(r.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"
    assert tagged(r.cmd("CREATE Other"))[0] == "OK"
    assert tagged(r.cmd("SELECT Other"))[0] == "OK"
    assert tagged(r.cmd(f"NOTIFY SET (selected (MessageNew MessageExpunge)) (personal {ALL_EVENTS})"))[0] == "OK"
    # Delivered over LMTP on B: INBOX is not selected on A, so STATUS.
    t0 = time.monotonic()
    assert deliver(b, ["alice@example.com"], SIMPLE)[1][0][0] == 250
    line = lines_until(r, lambda l: l.startswith(b'* STATUS "INBOX"'))[-1]
    assert b"MESSAGES 1" in line and b"UIDNEXT 2" in line, line
    assert time.monotonic() - t0 < 2.0
    # A mailbox created through B's IMAP, and a message into A's selected mailbox.
    m = other(b)
    ok(m.create("FromB"))
    assert lines_until(r, lambda l: b"LIST" in l)[-1] == b'* LIST () "/" "FromB"'
    ok(m.append("Other", None, None, make_message(1)))
    assert b"* 1 EXISTS" in lines_until(r, lambda l: l.endswith(b"EXISTS"))
    m.logout()
