#!/usr/bin/env python3
"""Cost of encryption at rest: LMTP delivery time per MB for a user without and
with `encryptMessages` (a key made by GnuPG), on one fresh embedded store.

The corpus is deterministic: `--messages` messages of `--size` bytes each (a text
part and a base64 attachment of random bytes, so compression cannot hide work).
Each message is delivered on its own LMTP transaction, one connection, in turn,
alternating the clear and the encrypting user so both see the same machine load;
the figure is the sum of the DATA-to-250 times per user, divided by the MB
delivered, and the difference between the two is the cost of encryption per MB.

    cargo build --bin eider            # or --release, and --bin target/release/eider
    python3 bench/encryption_at_rest.py --bin target/debug/eider --messages 16 --size 1000000
"""

import argparse
import base64
import json
import os
import random
import re
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
import urllib.request

LISTEN_RE = re.compile(r"(API|LMTP) listening on (?:http://)?(\S+)")


def start(binary, data):
    proc = subprocess.Popen(
        [binary, "serve", "--set", f"storage.path={json.dumps(data)}", "--set", "api.port=0",
         "--set", "imap.port=0", "--set", "pop3.port=0", "--set", "lmtp.port=0",
         "--set", "lmtp.maxMB=64"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    addrs = {}
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            m = LISTEN_RE.search(line.decode(errors="replace"))
            if m:
                addrs[m.group(1)] = m.group(2)
                if len(addrs) == 2:
                    ready.set()
    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise SystemExit("eider did not start")
    return proc, addrs


def api(base, method, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def gpg_key(home):
    gpg = shutil.which("gpg") or "gpg"
    base = [gpg, "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(base + ["--quick-gen-key", "Bench <bench@example.com>", "future-default",
                           "default", "never"], check=True, capture_output=True)
    return subprocess.run(base + ["--armor", "--export", "bench@example.com"], check=True,
                          capture_output=True).stdout.decode()


def message(i, size, rng):
    payload = base64.encodebytes(rng.randbytes(size * 3 // 4)).replace(b"\n", b"\r\n")
    return (f"From: sender@example.org\r\nTo: user@example.com\r\nSubject: bench {i}\r\n"
            f"Message-ID: <bench-{i}@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
            f"message {i}\r\n--b\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + payload + b"\r\n--b--\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/eider")
    ap.add_argument("--messages", type=int, default=16)
    ap.add_argument("--size", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="eider-enc-bench-")
    home = os.path.join(tmp, "gnupg")
    os.makedirs(home, mode=0o700)
    key = gpg_key(home)
    proc, addrs = start(args.bin, os.path.join(tmp, "data"))
    try:
        base = "http://" + addrs["API"]
        api(base, "POST", "/users", {"username": "clear", "password": "secret-pass",
                                     "address": "clear@example.com"})
        api(base, "POST", "/users", {"username": "sealed", "password": "secret-pass",
                                     "address": "sealed@example.com", "pubKey": key,
                                     "encryptMessages": True})
        host, port = addrs["LMTP"].rsplit(":", 1)
        client = smtplib.LMTP(host, int(port), timeout=300)
        client.ehlo("bench.test")
        rng = random.Random(21)
        corpus = [message(i, args.size, rng) for i in range(args.messages)]
        total = {"clear": 0.0, "sealed": 0.0}
        delivered = 0
        for i, raw in enumerate(corpus):
            for who in (("clear", "sealed") if i % 2 == 0 else ("sealed", "clear")):
                client.mail("sender@example.org")
                client.rcpt(f"{who}@example.com")
                t0 = time.perf_counter()
                code, text = client.data(raw)
                total[who] += time.perf_counter() - t0
                assert code == 250, (code, text)
            delivered += len(raw)
        client.quit()
        mb = delivered / 1e6
        clear, sealed = total["clear"] / mb, total["sealed"] / mb
        print(f"corpus: {args.messages} messages, {mb:.1f} MB per user, binary {args.bin}")
        print(f"clear:     {clear * 1000:8.1f} ms per MB delivered")
        print(f"encrypted: {sealed * 1000:8.1f} ms per MB delivered")
        print(f"cost of encryption: {(sealed - clear) * 1000:8.1f} ms per MB "
              f"({sealed / clear:.2f}x the clear delivery)")
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
