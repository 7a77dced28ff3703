"""kill -9 during parallel LMTP deliveries: every message that got 250 is there
after a restart exactly once and byte-identical, and nothing half-written shows."""

import base64
import os
import re
import signal
import threading

from conftest import Eider
from lmtp_support import connect, delivered, messages, transaction

TOTAL = 500
CONNECTIONS = 16
KILL_AFTER = 160  # acknowledged deliveries before the kill

MESSAGE_ID = re.compile(rb"^Message-ID: <durable-(\d+)@example\.org>\r$", re.M)


def build(i):
    head = (
        f"From: Sender <sender@example.org>\r\n"
        f"To: durable@example.com\r\n"
        f"Subject: durable {i}\r\n"
        f"Message-ID: <durable-{i}@example.org>\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\n"
    )
    if i % 5 == 0:
        # Every fifth message has an attachment large enough for the blob store.
        blob = base64.encodebytes(os.urandom(20_000 + 97 * i)).replace(b"\n", b"\r\n")
        return (
            head
            + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + "--b\r\nContent-Type: text/plain\r\n\r\n"
            + f"message {i}\r\n.dot line\r\n"
            + "--b\r\nContent-Type: application/octet-stream\r\n"
            + 'Content-Disposition: attachment; filename="f.bin"\r\n'
            + "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode() + blob + b"--b--\r\n"
    return (head + "Content-Type: text/plain\r\n\r\n" + f"message {i}\r\n" * (1 + i % 40)).encode()


def test_kill9_during_parallel_deliveries(tmp_path):
    data_dir = tmp_path / "data"
    server = Eider(data_dir).wait_ready()
    uid = server.create_user("durable", address="durable@example.com")
    bodies = [build(i) for i in range(TOTAL)]
    pending = list(range(TOTAL))
    acked = set()
    lock = threading.Lock()
    enough = threading.Event()

    def worker():
        try:
            client = connect(server, timeout=60)
        except OSError:
            return
        while True:
            with lock:
                if not pending:
                    break
                i = pending.pop(0)
            try:
                _, data = transaction(client, "sender@example.org", ["durable@example.com"], bodies[i])
            except Exception:  # noqa: BLE001 - the server is being killed
                return
            if data and data[0][0] == 250:
                with lock:
                    acked.add(i)
                    if len(acked) >= KILL_AFTER:
                        enough.set()
        try:
            client.quit()
        except Exception:  # noqa: BLE001
            pass

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    assert enough.wait(120), f"only {len(acked)} deliveries were acknowledged"
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(30)
    killed_at = len(acked)
    for t in threads:
        t.join(30)
    with lock:
        acknowledged = set(acked)
    assert killed_at < TOTAL, "every delivery finished before the kill; nothing was tested"

    restarted = Eider(data_dir).wait_ready()
    try:
        stored = messages(restarted, uid, username="durable")
        seen = {}
        for raw in stored:
            m = MESSAGE_ID.search(raw)
            assert m, f"stored message without a known Message-ID: {raw[:200]!r}"
            i = int(m.group(1))
            seen[i] = seen.get(i, 0) + 1
            expected = delivered("durable@example.com", bodies[i])
            assert raw == expected, f"message {i} is not byte-identical (len {len(raw)} vs {len(expected)})"
        duplicates = {i: n for i, n in seen.items() if n != 1}
        assert not duplicates, f"stored more than once: {duplicates}"
        missing = sorted(acknowledged - set(seen))
        assert not missing, f"acknowledged but lost: {missing[:20]} ({len(missing)} in all)"
        # The store still accepts mail after the crash.
        client = connect(restarted)
        try:
            _, data = transaction(client, "s@example.org", ["durable@example.com"], build(TOTAL + 1))
            assert data[0][0] == 250
        finally:
            client.quit()
    finally:
        assert restarted.stop() == 0
    print(f"acknowledged {len(acknowledged)}, stored {len(stored)} of {TOTAL} after kill -9")
