#!/usr/bin/env python3
"""Outbound queue throughput: messages per second from Eider's durable queue to a
local SMTP sink (aiosmtpd) standing in for the relay.

All messages are submitted through the API with the same future `sendTime`, so
they are queued (committed) first and released together; the figure is the
drain rate of the queue: from the first message the sink receives to the last.
When Postfix is installed (`postfix` on PATH) the same messages are relayed
through it to the same sink and its rate is printed beside (not automated yet:
see the notes in the final report).

    cargo build --release
    python3 bench/outbound_queue.py --bin target/release/eider --messages 2000
"""

import argparse
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from aiosmtpd.controller import Controller


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink:
    def __init__(self):
        self.times = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.times.append(time.monotonic())
                return "250 queued"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def close(self):
        self.controller.stop()


def api(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/eider")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8, help="[outbound] concurrency")
    ap.add_argument("--dkim", choices=["rsa", "ed25519"], help="sign with a /dkim key of this kind")
    args = ap.parse_args()

    sink = Sink()
    data = tempfile.mkdtemp(prefix="eider-outbound-bench-")
    proc = subprocess.Popen([
        args.bin, "serve",
        "--set", f"storage.path={json.dumps(data)}",
        "--set", "api.port=0", "--set", "imap.enabled=false", "--set", "pop3.enabled=false",
        "--set", "lmtp.enabled=false",
        "--set", "relay.enabled=true", "--set", f"relay.port={sink.port}",
        "--set", f"outbound.concurrency={args.concurrency}",
        "--set", "outbound.batch=200",
        "--set", "log.level=\"warn,eider=info\"",
    ], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    base = None
    for raw in proc.stdout:
        m = re.search(r"API listening on (?:http://)?(\S+)", raw.decode("utf-8", "replace"))
        if m:
            base = "http://" + m.group(1)
            break
    if not base:
        sys.exit("eider did not start")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    try:
        uid = api(base, "POST", "/users", {"username": "bench", "password": "bench-pass",
                                           "address": "bench@example.com"})["id"]
        api(base, "PUT", f"/users/{uid}", {"recipients": args.messages * 2})
        if args.dkim:
            api(base, "POST", "/dkim", {"domain": "example.com", "selector": "bench", "algorithm": args.dkim})
        release = time.time() + max(10, args.messages / 100)
        send_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(release))
        started = time.monotonic()

        def one(i):
            api(base, "POST", f"/users/{uid}/submit", {
                "to": [{"address": f"rcpt{i}@example.org"}], "subject": f"bench {i}",
                "text": "x" * 2000, "sendTime": send_time})

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(args.messages)))
        queued = time.monotonic() - started
        print(f"queued {args.messages} submissions in {queued:.2f}s "
              f"({args.messages / queued:.0f}/s through the API, Sent copy included)")
        deadline = time.time() + 600
        while len(sink.times) < args.messages and time.time() < deadline:
            time.sleep(0.1)
        if len(sink.times) < args.messages:
            sys.exit(f"only {len(sink.times)} of {args.messages} delivered")
        span = sink.times[-1] - sink.times[0]
        signed = " (DKIM " + args.dkim + ")" if args.dkim else ""
        print(f"eider queue -> sink{signed}: {args.messages} messages in {span:.2f}s = "
              f"{args.messages / span:.0f} messages/s")
    finally:
        proc.terminate()
        proc.wait()
        sink.close()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
