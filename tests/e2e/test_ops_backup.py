"""`eider backup` while 8 LMTP streams deliver: the copy opens, passes `eider check`
and holds every message acknowledged before the backup started, byte for byte."""

import imaplib
import os
import threading
import time

from lmtp_support import connect, make_message, transaction
from ops_util import cli

USERS = 8
PASSWORD = "backup-pass-1"


def fetch_all(eider, username):
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    m.login(username, PASSWORD)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK", data
    bodies = [item[1] for item in data if isinstance(item, tuple)]
    m.logout()
    return bodies


def test_backup_during_parallel_deliveries(start_eider, tmp_path):
    data = tmp_path / "data"
    eider = start_eider(data)
    for i in range(USERS):
        eider.create_user(f"user{i}", PASSWORD, address=f"user{i}@example.com")

    acked = []  # (ack time, user index, raw)
    latencies = []  # (start, end)
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def stream(i):
        try:
            client = connect(eider)
            n = 0
            while not stop.is_set():
                n += 1
                # Some messages carry an attachment-sized body (a blob), some are small.
                body = ("line %d of stream %d\r\n" % (n, i)) * (1 if n % 3 else 400)
                raw = make_message(subject=f"s{i} m{n}", body=body)
                started = time.monotonic()
                _, replies = transaction(client, "sender@example.org", [f"user{i}@example.com"], raw)
                ended = time.monotonic()
                assert replies and replies[0][0] == 250, replies
                with lock:
                    acked.append((ended, i, raw))
                    latencies.append((started, ended))
            client.quit()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    # Some data first, so the backup takes a moment while deliveries go on.
    threads = [threading.Thread(target=stream, args=(i,)) for i in range(USERS)]
    for t in threads:
        t.start()
    time.sleep(3)
    backup_started = time.monotonic()
    dest = tmp_path / "backup"
    res = cli(data, "backup", str(dest))
    backup_ended = time.monotonic()
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert b"backup written to" in res.stdout
    assert (dest / "eider.sqlite3").is_file()
    assert os.stat(dest).st_mode & 0o077 == 0

    during = [e - s for s, e in latencies if e >= backup_started and s <= backup_ended]
    assert during, "no delivery overlapped the backup"
    print(f"backup {backup_ended - backup_started:.2f} s, {len(during)} deliveries during it, "
          f"longest {max(during) * 1000:.0f} ms")
    assert max(during) < 5, "deliveries were blocked by the backup"

    check = cli(dest, "check")
    assert check.returncode == 0, (check.stdout, check.stderr)

    before = [(i, raw) for t, i, raw in acked if t < backup_started]
    assert len(before) >= USERS
    copy = start_eider(dest)
    for i in range(USERS):
        stored = set(fetch_all(copy, f"user{i}"))
        for j, raw in before:
            # LMTP stores a Delivered-To line in front of the received bytes (as WildDuck).
            if j == i:
                want = f"Delivered-To: user{i}@example.com\r\n".encode() + raw
                assert want in stored, f"user{i} lacks a message acknowledged before the backup"


def test_backup_refuses_an_existing_store(start_eider, tmp_path):
    data = tmp_path / "data"
    start_eider(data)
    dest = tmp_path / "b"
    assert cli(data, "backup", str(dest)).returncode == 0
    again = cli(data, "backup", str(dest))
    assert again.returncode == 1 and b"exists already" in again.stderr
