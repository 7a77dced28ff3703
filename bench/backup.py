#!/usr/bin/env python3
"""Backup throughput and delivery stall: fill an embedded store with MB-sized messages
(random attachments, so neither compression nor de-duplication shrinks them), then run
`eider backup` while 8 LMTP streams deliver small messages, and report the backup's
MB/s and the longest delivery during it.

    python3 bench/backup.py [--mb 300] [--bin target/release/eider]
"""

import argparse
import base64
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
import conftest  # noqa: E402
from lmtp_support import connect, make_message, transaction  # noqa: E402


def big_message(n, size):
    payload = base64.encodebytes(os.urandom(size)).decode().replace("\n", "\r\n")
    return (
        "From: bench@example.org\r\nTo: bench@example.com\r\n"
        f"Subject: big {n}\r\nMessage-ID: <big{n}.{time.time_ns()}@example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{payload}\r\n--b--\r\n"
    ).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    if args.bin:
        conftest.BINARY = Path(args.bin).resolve()
    import ops_util
    ops_util.BINARY = conftest.BINARY

    tmp = Path(tempfile.mkdtemp(prefix="eider-bench-backup-"))
    eider = conftest.Eider(tmp / "data").wait_ready()
    try:
        for i in range(8):
            eider.create_user(f"bench{i}", "bench-pass-1", address=f"bench{i}@example.com")
        t0 = time.monotonic()
        client = connect(eider, timeout=300)
        total = 0
        n = 0
        while total < args.mb * 1024 * 1024:
            raw = big_message(n, 1024 * 1024)
            _, replies = transaction(client, "bench@example.org", [f"bench{n % 8}@example.com"], raw)
            assert replies[0][0] == 250, replies
            total += len(raw)
            n += 1
        client.quit()
        print(f"filled: {n} messages, {total / 1e6:.0f} MB in {time.monotonic() - t0:.0f} s")

        stop = threading.Event()
        lat = []
        lock = threading.Lock()

        def stream(i):
            c = connect(eider, timeout=300)
            k = 0
            while not stop.is_set():
                k += 1
                s = time.monotonic()
                _, r = transaction(c, "s@example.org", [f"bench{i}@example.com"], make_message(subject=f"{i}-{k}"))
                e = time.monotonic()
                assert r[0][0] == 250
                with lock:
                    lat.append((s, e))
            c.quit()

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(2)
        b0 = time.monotonic()
        res = ops_util.cli(tmp / "data", "--json", "backup", str(tmp / "backup"), timeout=3600)
        b1 = time.monotonic()
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        assert res.returncode == 0, res.stderr
        import json
        report = json.loads(res.stdout)
        during = [e - s for s, e in lat if e >= b0 and s <= b1]
        before = [e - s for s, e in lat if e < b0]
        print(f"backup: {report['bytes'] / 1e6:.0f} MB in {report['seconds']:.1f} s = "
              f"{report['bytes'] / 1e6 / report['seconds']:.1f} MB/s")
        print(f"deliveries during the backup: {len(during)}, longest {max(during) * 1000:.0f} ms, "
              f"median {sorted(during)[len(during) // 2] * 1000:.0f} ms "
              f"(before it: longest {max(before) * 1000:.0f} ms)")
    finally:
        eider.stop()


if __name__ == "__main__":
    main()
