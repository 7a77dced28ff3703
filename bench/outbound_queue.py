#!/usr/bin/env python3
"""Outbound queue throughput: messages per second from Eider's durable queue to a
local SMTP sink (aiosmtpd) standing in for the relay.

All messages are submitted through the API with the same future `sendTime`, so
they are queued (committed) first and released together; the figure is the
drain rate of the queue: from the first message the sink receives to the last.
Then, in the same run, the same messages go through Postfix (Debian's package; run
as root, as Postfix drops privileges to its own user) to the same sink: submitted
over SMTP while its `smtp` transport is deferred (queued first, like Eider's held
`sendTime`), then released with `postqueue -f`; the same drain is timed. Both
relay with the same concurrency to one destination, and both reuse connections.
`--no-postfix` skips it.

    cargo build --release
    python3 bench/outbound_queue.py --bin target/release/eider --messages 2000
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import smtplib
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


POSTFIX_MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
proxywrite unix - - n -  1 proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def postfix_drain(messages, concurrency, body):
    """The same messages through Postfix to a fresh sink: (queued seconds, drain seconds)."""
    postfix = shutil.which("postfix") or "/usr/sbin/postfix"
    postqueue = shutil.which("postqueue") or "/usr/sbin/postqueue"
    postconf = shutil.which("postconf") or "/usr/sbin/postconf"
    sink = Sink()
    base = tempfile.mkdtemp(prefix="eider-bench-postfix-")
    os.chmod(base, 0o755)
    etc, queue, data = (os.path.join(base, d) for d in ("etc", "queue", "data"))
    for d in (etc, queue, data):
        os.mkdir(d)
    shutil.chown(data, "postfix")
    port = free_port()
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.postfix.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink.port}
smtp_destination_concurrency_limit = {concurrency}
default_destination_concurrency_limit = {concurrency}
defer_transports = smtp
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = /dev/stdout
""")
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write(POSTFIX_MASTER_CF.format(listen=f"127.0.0.1:{port}"))
    proc = subprocess.Popen([postfix, "-c", etc, "start-fg"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("postfix did not start")
                time.sleep(0.2)
        started = time.monotonic()

        def one(i):
            msg = (f"From: bench@example.com\r\nTo: rcpt{i}@example.org\r\n"
                   f"Subject: bench {i}\r\nMessage-ID: <bench{i}@example.com>\r\n\r\n{body}\r\n")
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
                c.sendmail("bench@example.com", [f"rcpt{i}@example.org"], msg)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(messages)))
        queued = time.monotonic() - started
        subprocess.run([postconf, "-c", etc, "-e", "defer_transports ="], check=True)
        subprocess.run([postfix, "-c", etc, "reload"], check=True, capture_output=True)
        subprocess.run([postqueue, "-c", etc, "-f"], check=True)
        deadline = time.time() + 600
        while len(sink.times) < messages and time.time() < deadline:
            time.sleep(0.1)
        if len(sink.times) < messages:
            sys.exit(f"postfix: only {len(sink.times)} of {messages} delivered")
        return queued, sink.times[-1] - sink.times[0]
    finally:
        subprocess.run([postfix, "-c", etc, "stop"], capture_output=True, timeout=30)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        sink.close()
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/eider")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8,
                    help="[outbound] concurrency and Postfix's destination concurrency")
    ap.add_argument("--no-postfix", action="store_true", help="time Eider only")
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
    if args.no_postfix:
        return
    queued_pf, span_pf = postfix_drain(args.messages, args.concurrency, "x" * 2000)
    print(f"postfix: queued {args.messages} over SMTP in {queued_pf:.2f}s; "
          f"queue -> sink: {span_pf:.2f}s = {args.messages / span_pf:.0f} messages/s")
    print(f"eider / postfix drain time: {span / span_pf:.2f}")


if __name__ == "__main__":
    main()
