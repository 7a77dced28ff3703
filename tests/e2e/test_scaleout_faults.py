"""Scale-out under faults (issue #22): three `eider` instances on one MongoDB
(SecantusDB) and one Redis, under a steady load of LMTP deliveries (round-robin over
the instances), IMAP IDLE sessions and API writes, while one instance is killed with
SIGKILL or Redis is restarted. Nothing acknowledged may be lost or duplicated.
Each test is bounded to well under a minute; the figures are printed (-s shows them).

scripts/test starts SecantusDB and redis-server and exports EIDER_TEST_MONGO_URL
and EIDER_TEST_REDIS_URL; without them these tests fail in CI and skip elsewhere."""

import signal
import smtplib
import threading
import time
import uuid
from collections import Counter

from imaputil import PASSWORD, Raw, tagged
from lmtp_support import deliver, make_message
from test_scaleout_redis_outage import private_redis  # noqa: F401  (fixture)
from test_scaleout_two_instances import cluster, idle_on, service, wait_line, with_database  # noqa: F401

RCPT = "load@example.com"


class Load:
    """LMTP deliveries and API writes, round-robin over the live instances, in threads;
    records what each instance acknowledged."""

    def __init__(self, servers, user_id):
        self.servers = list(servers)
        self.user_id = user_id
        self.acked = []  # Message-IDs answered 250
        self.refused = Counter()  # reply code or exception name -> count
        self.api_acked = []  # mailbox paths created with 200
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._lmtp, args=(i,), daemon=True) for i in range(2)
        ] + [threading.Thread(target=self._api, daemon=True)]

    def live(self):
        return [s for s in self.servers if s.proc.poll() is None]

    def _lmtp(self, k):
        i = 0
        while not self.stop.is_set():
            i += 1
            for srv in self.live():
                mid = f"<load{k}.{i}.{uuid.uuid4().hex[:8]}@example.org>"
                try:
                    _, replies = deliver(srv, [RCPT], make_message(f"load {k}.{i}", message_id=mid))
                    code = replies[0][0] if replies else 0
                except (OSError, smtplib.SMTPException) as e:
                    code = type(e).__name__
                with self.lock:
                    if code == 250:
                        self.acked.append(mid.strip("<>"))
                    else:
                        self.refused[code] += 1

    def _api(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            for srv in self.live():
                path = f"Load/{i}-{srv.addresses['API'].rsplit(':', 1)[1]}"
                try:
                    status, _ = srv.api("POST", f"/users/{self.user_id}/mailboxes", {"path": path})
                except OSError as e:
                    status = type(e).__name__
                with self.lock:
                    if status == 200:
                        self.api_acked.append(path)
                    else:
                        self.refused[f"api {status}"] += 1
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def stored_message_ids(server, user_id):
    """Message-IDs of every message in the user's INBOX, through the API (paged)."""
    _, boxes = server.api("GET", f"/users/{user_id}/mailboxes")
    inbox = next(m["id"] for m in boxes["results"] if m["path"] == "INBOX")
    out, cursor = [], None
    while True:
        q = f"/users/{user_id}/mailboxes/{inbox}/messages?limit=250" + (f"&next={cursor}" if cursor else "")
        status, body = server.api("GET", q)
        assert status == 200, body
        out += [m["messageId"].strip("<>") for m in body["results"]]
        cursor = body.get("nextCursor")
        if not cursor:
            return out


def paths(server, user_id):
    _, boxes = server.api("GET", f"/users/{user_id}/mailboxes")
    return [m["path"] for m in boxes["results"]]


def test_kill9_one_of_three_instances_under_load(cluster):
    a, b, c = cluster(), cluster(), cluster()
    user_id = a.create_user("load", PASSWORD, address=RCPT)
    watcher = idle_on(c, "load")
    on_b = Raw(*b.hostport("IMAP"))
    assert tagged(on_b.cmd(f"LOGIN load {PASSWORD}"))[0] == "OK"
    on_b.cmd("SELECT INBOX")

    with Load([a, b, c], user_id) as load:
        time.sleep(4)
        with load.lock:
            before_kill = len(load.acked)
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
        killed_at = time.monotonic()
        # The IDLE session on a surviving instance keeps hearing deliveries.
        line, _, seen = wait_line(watcher, lambda l: l.endswith(b" EXISTS"), timeout=5)
        assert line is not None, seen
        time.sleep(4)
    # B's IMAP client finds its connection dead and reconnects to A.
    try:
        on_b.cmd("NOOP")
        raise AssertionError("the killed instance still answered")
    except (OSError, EOFError):
        pass
    reconnect_started = time.monotonic()
    moved = Raw(*a.hostport("IMAP"))
    assert tagged(moved.cmd(f"LOGIN load {PASSWORD}"))[0] == "OK"
    sel = moved.cmd("SELECT INBOX")
    reconnect_s = time.monotonic() - reconnect_started
    exists = next(int(l.split()[1]) for l in sel if l.endswith(b" EXISTS"))

    stored = stored_message_ids(a, user_id)
    counts = Counter(stored)
    dup = [m for m, n in counts.items() if n > 1]
    lost = [m for m in load.acked if m not in counts]
    print(f"\nkill -9: acknowledged {len(load.acked)} deliveries ({before_kill} before the kill), "
          f"stored {len(stored)}, lost {len(lost)}, duplicated {len(dup)}, "
          f"refused/failed {dict(load.refused)}; IMAP client moved to another instance in "
          f"{reconnect_s * 1000:.0f} ms and sees {exists} messages; "
          f"API: {len(load.api_acked)} mailboxes acknowledged")
    assert not lost, lost[:5]
    assert not dup, dup[:5]
    # Unacknowledged deliveries (cut by the kill) may or may not be stored; nothing else is.
    assert len(stored) - len(load.acked) <= sum(n for k, n in load.refused.items() if not str(k).startswith("api")), (
        len(stored), len(load.acked), load.refused)
    assert exists == len(stored)
    have = paths(a, user_id)
    missing = [p for p in load.api_acked if p not in have]
    assert not missing, missing[:5]
    assert len(set(have)) == len(have)
    # The survivors still serve and notify each other.
    watcher.send("DONE\r\n")
    watcher.until_tagged("idle1")
    watcher.send("idle2 IDLE\r\n")
    assert watcher.readline().startswith(b"+ ")
    t0 = time.monotonic()
    assert deliver(a, [RCPT], make_message("after"))[1][0][0] == 250
    want = f"* {len(stored) + 1} EXISTS".encode()
    line, _, seen = wait_line(watcher, lambda l: l == want, timeout=5)
    took = time.monotonic() - t0
    assert line is not None, seen
    print(f"after the kill: A -> C notification in {took * 1000:.0f} ms "
          f"({time.monotonic() - killed_at:.1f} s after the kill)")
    watcher.send("DONE\r\n")
    watcher.until_tagged("idle2")


def metric(server, name):
    status, body = server.api("GET", "/metrics", raw=True)
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_redis_restart_three_instances_under_load(start_eider, private_redis):  # noqa: F811
    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_e2e_" + uuid.uuid4().hex)
    args = [
        "--set", 'storage.backend="mongodb"',
        "--set", f'dbs.mongo="{mongo}"',
        "--set", f'dbs.redis="redis://127.0.0.1:{private_redis.port}/0"',
    ]
    a, b, c = (start_eider(extra_args=args) for _ in range(3))
    user_id = a.create_user("load", PASSWORD, address=RCPT)
    watchers = [idle_on(s, "load") for s in (a, b, c)]
    assert metric(a, "eider_redis_reconnects_total") == 0

    def acked():
        with load.lock:
            return len(load.acked)

    def until(predicate, timeout=60):
        # Bounded waits instead of fixed sleeps: a loaded CI machine delivers slowly.
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.1)

    with Load([a, b, c], user_id) as load:
        until(lambda: acked() >= 1)
        private_redis.stop()
        down_at = time.monotonic()
        before = acked()
        # Mail keeps flowing while Redis is down: more deliveries are acknowledged.
        until(lambda: acked() > before)
        time.sleep(1)
        during = acked() - before
        private_redis.start()
        back_at = time.monotonic()
        time.sleep(4)
    # Mail flowed while Redis was down.
    assert during > 0
    # Every instance's subscriber came back (counted) and its IDLE session caught up.
    deadline = time.monotonic() + 15
    while any(metric(s, "eider_redis_reconnects_total") < 1 for s in (a, b, c)):
        assert time.monotonic() < deadline, "a subscriber did not reconnect"
        time.sleep(0.2)
    resumed = time.monotonic() - back_at
    stored = stored_message_ids(a, user_id)
    for w in watchers:
        w.send("DONE\r\n")
        w.until_tagged("idle1")
        lines = w.cmd("NOOP")
        w.send("idle2 IDLE\r\n")
        assert w.readline().startswith(b"+ ")
    # Notifications are immediate again on every instance.
    t0 = time.monotonic()
    assert deliver(b, [RCPT], make_message("after redis"))[1][0][0] == 250
    took = []
    for w in watchers:
        line, _, seen = wait_line(w, lambda l: l.endswith(b" EXISTS"), timeout=5)
        assert line is not None, seen
        took.append(time.monotonic() - t0)
    counts = Counter(stored)
    lost = [m for m in load.acked if m not in counts]
    dup = [m for m, n in counts.items() if n > 1]
    print(f"\nredis restart: down {back_at - down_at:.1f} s, acknowledged {len(load.acked)} "
          f"({during} before Redis returned), stored {len(stored)}, lost {len(lost)}, "
          f"duplicated {len(dup)}; all subscribers back within {resumed:.1f} s of Redis; "
          f"IDLE on all three after one delivery in {max(took) * 1000:.0f} ms")
    assert not lost and not dup
    for w in watchers:
        w.send("DONE\r\n")
        w.until_tagged("idle2")


class Secantus:
    """A SecantusDB of this test's own, so that it can be stopped and started."""

    def __init__(self, port, path):
        self.port, self.path, self.proc = port, path, None

    def start(self):
        import shutil
        import subprocess
        exe = shutil.which("secantusd-py")
        assert exe, "secantusd-py is not installed: scripts/test installs it"
        self.proc = subprocess.Popen(
            [exe, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(self.path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import socket
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("SecantusDB did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_store_outage_fails_cleanly_and_recovers(start_eider, private_redis, tmp_path):  # noqa: F811
    from test_scaleout_redis_outage import free_port
    service("EIDER_TEST_MONGO_URL")  # the same requirement as the other scale-out tests
    db = Secantus(free_port(), tmp_path / "secantus")
    db.start()
    try:
        # Short server selection so that requests during the outage fail within seconds.
        mongo = f"mongodb://127.0.0.1:{db.port}/eider_outage?serverSelectionTimeoutMS=2000"
        args = [
            "--set", 'storage.backend="mongodb"',
            "--set", f'dbs.mongo="{mongo}"',
            "--set", f'dbs.redis="redis://127.0.0.1:{private_redis.port}/0"',
        ]
        a, b, c = (start_eider(extra_args=args) for _ in range(3))
        user_id = a.create_user("load", PASSWORD, address=RCPT)
        acked = []
        for i, s in enumerate((a, b, c)):
            mid = f"before{i}@example.org"
            assert deliver(s, [RCPT], make_message("before", message_id=f"<{mid}>"))[1][0][0] == 250
            acked.append(mid)
        reader = Raw(*c.hostport("IMAP"))
        assert tagged(reader.cmd(f"LOGIN load {PASSWORD}"))[0] == "OK"
        assert tagged(reader.cmd("SELECT INBOX"))[0] == "OK"

        db.stop()
        down_at = time.monotonic()
        # LMTP: a temporary failure, so the MTA retries.
        t0 = time.monotonic()
        try:
            rcpt, data = deliver(a, [RCPT], make_message("during"))
            codes = [c for c, _ in rcpt] + [c for c, _ in data]
        except smtplib.SMTPException as e:
            codes = [getattr(e, "smtp_code", 0)]
        lmtp_s = time.monotonic() - t0
        assert any(400 <= c < 500 for c in codes) and 250 not in codes[1:], codes
        # IMAP: NO [UNAVAILABLE] on a command that needs the store.
        t0 = time.monotonic()
        lines = reader.cmd("STATUS INBOX (MESSAGES)")
        imap_s = time.monotonic() - t0
        assert tagged(lines)[0] == "NO" and "[UNAVAILABLE]" in tagged(lines)[1], lines
        # HTTP: 503.
        t0 = time.monotonic()
        status, body = b.api("GET", f"/users/{user_id}/mailboxes")
        http_s = time.monotonic() - t0
        assert status == 503, (status, body)
        assert all(s.proc.poll() is None for s in (a, b, c)), "no instance died"

        db.start()
        up_at = time.monotonic()
        # Recovery without restarting any instance.
        recovered = {}
        deadline = time.monotonic() + 30
        while len(recovered) < 3:
            assert time.monotonic() < deadline, recovered
            for name, s in (("a", a), ("b", b), ("c", c)):
                if name in recovered:
                    continue
                mid = f"after-{name}@example.org"
                try:
                    _, data = deliver(s, [RCPT], make_message("after", message_id=f"<{mid}>"))
                except (OSError, smtplib.SMTPException):
                    continue
                if data and data[0][0] == 250:
                    acked.append(mid)
                    recovered[name] = time.monotonic() - up_at
            time.sleep(0.2)
        lines = reader.cmd("STATUS INBOX (MESSAGES)")
        assert tagged(lines)[0] == "OK", lines
        stored = stored_message_ids(b, user_id)
        assert sorted(stored) == sorted(acked), (stored, acked)
        print(f"\nstore outage: LMTP 4xx in {lmtp_s:.1f} s, IMAP NO [UNAVAILABLE] in {imap_s:.1f} s, "
              f"HTTP 503 in {http_s:.1f} s (down {up_at - down_at:.1f} s); deliveries succeed again "
              f"{max(recovered.values()):.1f} s after the restart on all three; acknowledged "
              f"{len(acked)}, stored {len(stored)}")
        reader.cmd("LOGOUT")
    finally:
        db.stop()
