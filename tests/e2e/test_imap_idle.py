"""Change propagation: IDLE reports EXISTS/EXPUNGE/FETCH within 1 s of a change
made by another session (or delivered over LMTP); NOOP reports at command tails."""

import smtplib
import time

from imaputil import PASSWORD, SIMPLE, login, make_message, ok, raw_login, tagged


def idle_until(r, predicate, timeout=1.0):
    """Read untagged lines while idling until one satisfies predicate; returns (line, elapsed)."""
    start = time.monotonic()
    r.sock.settimeout(timeout)
    seen = []
    try:
        while True:
            line = r.readline()
            seen.append(line)
            if predicate(line):
                return line, time.monotonic() - start, seen
    except TimeoutError:
        return None, time.monotonic() - start, seen
    finally:
        r.sock.settimeout(10)


def start_idle(r, tag="idle1"):
    r.send(f"{tag} IDLE\r\n")
    assert r.readline().startswith(b"+ ")


def stop_idle(r, tag="idle1"):
    r.send("DONE\r\n")
    return r.until_tagged(tag)


def test_idle_sees_append_from_other_session_within_1s(eider):
    watcher = raw_login(eider)
    watcher.cmd("SELECT INBOX")
    start_idle(watcher)
    other = login(eider, create=False)
    t0 = time.monotonic()
    ok(other.append("INBOX", None, None, SIMPLE))
    line, _, seen = idle_until(watcher, lambda l: l.endswith(b" EXISTS"), timeout=1.5)
    elapsed = time.monotonic() - t0
    assert line == b"* 1 EXISTS", seen
    assert elapsed < 1.0 + 0.2, elapsed  # APPEND's own fsync is included in t0..now
    lines = stop_idle(watcher)
    assert tagged(lines)[0] == "OK"


def test_idle_sees_flags_and_expunge(eider):
    other = login(eider)
    for i in range(3):
        ok(other.append("INBOX", None, None, make_message(i)))
    other.select("INBOX")
    watcher = raw_login(eider, create=False)
    watcher.cmd("SELECT INBOX")
    start_idle(watcher)
    other.store("2", "+FLAGS", "(\\Flagged)")
    line, elapsed, seen = idle_until(watcher, lambda l: b"FETCH" in l)
    assert line is not None and line.startswith(b"* 2 FETCH (UID 2 FLAGS (\\Flagged"), seen
    assert elapsed < 1.0
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    line, elapsed, seen = idle_until(watcher, lambda l: l.endswith(b"EXPUNGE"))
    assert line == b"* 1 EXPUNGE", seen
    stop_idle(watcher)
    lines = watcher.cmd("FETCH 1:* (UID)")
    assert lines[0] == b"* 1 FETCH (UID 2)" and lines[1] == b"* 2 FETCH (UID 3)"


def test_idle_sees_lmtp_delivery(eider):
    eider.create_user("alice", PASSWORD, address="alice@example.com")
    watcher = raw_login(eider, create=False)
    watcher.cmd("SELECT INBOX")
    start_idle(watcher)
    host, port = eider.hostport("LMTP")
    with smtplib.LMTP(host, port) as lmtp:
        lmtp.sendmail("bob@example.com", ["alice@example.com"], SIMPLE)
    line, elapsed, seen = idle_until(watcher, lambda l: l.endswith(b" EXISTS"), timeout=1.5)
    assert line == b"* 1 EXISTS", seen
    stop_idle(watcher)


def test_noop_reports_changes_and_fetch_defers_expunge(eider):
    a = raw_login(eider)
    for i in range(2):
        a.cmd("APPEND INBOX {%d+}\r\n%s" % (len(make_message(i)), make_message(i).decode()))
    a.cmd("SELECT INBOX")
    b = login(eider, create=False)
    b.select("INBOX")
    b.store("1", "+FLAGS", "(\\Deleted)")
    b.expunge()
    ok(b.append("INBOX", None, None, make_message(9)))
    # FETCH may not report the expunge, but does announce the new message.
    lines = a.cmd("FETCH 1 (UID)")
    assert b"* 1 EXPUNGE" not in lines
    # The expunged message still counts until EXPUNGE can be reported.
    assert b"* 3 EXISTS" in lines
    lines = a.cmd("NOOP")
    assert lines[0] == b"* 1 EXPUNGE"
    lines = a.cmd("FETCH 1:* (UID)")
    assert lines[:2] == [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)"]


def test_idle_done_and_bad_continuation(eider):
    r = raw_login(eider)
    r.cmd("SELECT INBOX")
    start_idle(r, "i1")
    r.send("done\r\n")
    assert tagged(r.until_tagged("i1"))[0] == "OK"
    start_idle(r, "i2")
    r.send("NOOP\r\n")
    assert tagged(r.until_tagged("i2"))[0] == "BAD"
    assert tagged(r.cmd("NOOP"))[0] == "OK"
