"""Scale-out: two `eider` processes on one MongoDB (SecantusDB) and one Redis.
IMAP IDLE on instance A sees, within 1 s, a message delivered over LMTP on
instance B and a flag set through B's API; an access token issued by A works on
B; a user's counters agree on both; a real IMAP client works on the MongoDB store.

scripts/test starts SecantusDB and redis-server and exports EIDER_TEST_MONGO_URL
and EIDER_TEST_REDIS_URL; without them these tests fail in CI and skip elsewhere."""

import imaplib
import os
import time
import uuid

import pytest

from imaputil import PASSWORD, SIMPLE, Raw, make_message, ok, tagged
from lmtp_support import SmtpSink, deliver, wait_for

SECRET = "scaleout-root-secret"


def service(var):
    value = os.environ.get(var, "").strip()
    if not value:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{var} is not set: scripts/test starts the service and sets it")
        pytest.skip(f"{var} is not set (scripts/test sets it)")
    return value


def with_database(url, name):
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    hosts = rest.split("/", 1)[0]
    out = f"{scheme}://{hosts}/{name}"
    return out + ("?" + query if query else "")


@pytest.fixture
def cluster(start_eider):
    """Start instances sharing one fresh database and the Redis; returns a factory."""
    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_e2e_" + uuid.uuid4().hex)
    redis = service("EIDER_TEST_REDIS_URL")

    def start(*extra):
        return start_eider(extra_args=[
            "--set", 'storage.backend="mongodb"',
            "--set", f'dbs.mongo="{mongo}"',
            "--set", f'dbs.redis="{redis}"',
            *extra,
        ])

    return start


def idle_on(server, user):
    r = Raw(*server.hostport("IMAP"))
    lines = r.cmd(f"LOGIN {user} {PASSWORD}")
    assert tagged(lines)[0] == "OK", lines
    r.cmd("SELECT INBOX")
    r.send("idle1 IDLE\r\n")
    assert r.readline().startswith(b"+ ")
    return r


def wait_line(r, predicate, timeout):
    """Untagged lines until one satisfies predicate; (line, seconds, lines seen)."""
    start = time.monotonic()
    seen = []
    try:
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                return None, time.monotonic() - start, seen
            r.sock.settimeout(left)
            line = r.readline()
            seen.append(line)
            if predicate(line):
                return line, time.monotonic() - start, seen
    except (TimeoutError, OSError):
        return None, time.monotonic() - start, seen
    finally:
        r.sock.settimeout(10)


def test_idle_on_a_sees_lmtp_delivery_on_b(cluster):
    a, b = cluster(), cluster()
    a.create_user("alice", PASSWORD, address="alice@example.com")
    watcher = idle_on(a, "alice")
    t0 = time.monotonic()
    _, replies = deliver(b, ["alice@example.com"], SIMPLE)
    assert replies[0][0] == 250, replies
    line, _, seen = wait_line(watcher, lambda l: l.endswith(b" EXISTS"), timeout=2.0)
    elapsed = time.monotonic() - t0
    assert line == b"* 1 EXISTS", seen
    assert elapsed < 1.0, f"EXISTS after {elapsed:.3f} s"
    watcher.send("DONE\r\n")
    assert tagged(watcher.until_tagged("idle1"))[0] == "OK"
    lines = watcher.cmd("UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert any(b"Hello there" in l for l in lines), lines


def test_idle_on_a_sees_flag_set_through_api_on_b(cluster):
    a, b = cluster(), cluster()
    uid = a.create_user("bob", PASSWORD, address="bob@example.com")
    assert deliver(a, ["bob@example.com"], make_message(1))[1][0][0] == 250
    _, boxes = b.api("GET", f"/users/{uid}/mailboxes")
    inbox = next(m["id"] for m in boxes["results"] if m["path"] == "INBOX")
    watcher = idle_on(a, "bob")
    t0 = time.monotonic()
    status, body = b.api("PUT", f"/users/{uid}/mailboxes/{inbox}/messages/1", {"flagged": True})
    assert (status, body) == (200, {"success": True, "updated": 1})
    line, _, seen = wait_line(watcher, lambda l: b"FETCH" in l, timeout=2.0)
    elapsed = time.monotonic() - t0
    assert line is not None and b"\\Flagged" in line and line.startswith(b"* 1 FETCH"), seen
    assert elapsed < 1.0, f"FETCH after {elapsed:.3f} s"
    watcher.send("DONE\r\n")
    watcher.until_tagged("idle1")


def test_access_token_from_a_works_on_b(cluster):
    guard = ("--set", "api.accessControl.enabled=true",
             "--set", f'api.accessControl.secret="{SECRET}"')
    a, b = cluster(*guard), cluster(*guard)
    status, body = a.api("POST", "/users", {"username": "carol", "password": "carol-pass"}, token=SECRET)
    assert status == 200, body
    carol = body["id"]
    status, body = a.api("POST", "/authenticate",
                         {"username": "carol", "password": "carol-pass", "token": True}, token=SECRET)
    assert status == 200 and body.get("token"), body
    token = body["token"]
    status, me = b.api("GET", "/users/me", token=token)
    assert status == 200 and me["id"] == carol, me
    # Logging out on B revokes it on A too.
    assert b.api("DELETE", "/authenticate", token=token) == (200, {"success": True})
    status, body = a.api("GET", "/users/me", token=token)
    assert status in (401, 403), (status, body)


@pytest.fixture
def relay():
    sink = SmtpSink()
    yield sink
    sink.close()


def test_forward_counters_agree_on_both_instances(cluster, relay):
    relayed = ("--set", "relay.enabled=true", "--set", f"relay.port={relay.port}")
    a, b = cluster(*relayed), cluster(*relayed)
    uid = a.create_user("dave", PASSWORD, address="dave@example.com")
    assert a.api("PUT", f"/users/{uid}", {"targets": ["copy@example.net"]})[0] == 200
    assert deliver(a, ["dave@example.com"], make_message(1), sender="")[1][0][0] == 250
    assert deliver(b, ["dave@example.com"], make_message(2), sender="")[1][0][0] == 250
    assert wait_for(lambda: len(relay.received) == 2)
    _, on_a = a.api("GET", f"/users/{uid}")
    _, on_b = b.api("GET", f"/users/{uid}")
    assert on_a["limits"]["forwards"]["used"] == 2, on_a["limits"]
    assert on_a["limits"] == on_b["limits"]
    # The mail itself, one store: both instances list both messages.
    for server in (a, b):
        _, boxes = server.api("GET", f"/users/{uid}/mailboxes?counters=true")
        inbox = next(m for m in boxes["results"] if m["path"] == "INBOX")
        assert inbox["total"] == 2, inbox


def test_imaplib_client_on_the_mongodb_store(cluster):
    a, b = cluster(), cluster()
    a.create_user("erin", PASSWORD, address="erin@example.com")
    host, port = b.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    assert m.login("erin", PASSWORD)[0] == "OK"
    ok(m.select("INBOX"))
    for i in range(3):
        ok(m.append("INBOX", "(\\Seen)" if i == 0 else None, None, make_message(i, body=f"needle-{i} text")))
    ok(m.select("INBOX"))
    assert ok(m.search(None, "ALL"))[0].split() == [b"1", b"2", b"3"]
    assert ok(m.search(None, "UNSEEN"))[0].split() == [b"2", b"3"]
    assert ok(m.search(None, "BODY", "needle-1"))[0].split() == [b"2"]
    assert ok(m.search(None, "TEXT", "NEEDLE-2"))[0].split() == [b"3"]
    ok(m.create("Archive/2024"))
    ok(m.copy("1:2", "Archive/2024"))
    ok(m.store("3", "+FLAGS", "(\\Deleted)"))
    ok(m.expunge())
    data = ok(m.fetch("1:*", "(UID FLAGS RFC822.SIZE)"))
    assert len(data) == 2, data
    typ, msg = m.fetch("2", "(BODY.PEEK[])")
    assert typ == "OK" and b"needle-1 text" in msg[0][1]
    m.logout()
    # The other instance sees the same store.
    n = imaplib.IMAP4(*a.hostport("IMAP"))
    assert n.login("erin", PASSWORD)[0] == "OK"
    assert ok(n.select("Archive/2024"))[0] == b"2"
    n.logout()
