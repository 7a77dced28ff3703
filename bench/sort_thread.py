#!/usr/bin/env python3
"""SORT and THREAD timings on one mailbox, Eider beside a private Dovecot, same run.

    bench/sort_thread.py [--messages 10000] [--eider target/release/eider] [--runs 5]

Starts a private Dovecot (own config, base_dir and maildir under a temporary directory,
loopback port; the same settings as eider-bench's `start_dovecot` in bench/src/servers.rs)
and a fresh Eider on the embedded store, APPENDs the same generated messages to both
(threads of five with References, varied subjects with Re:/Fwd:/[list] prefixes, senders,
Date: headers and sizes), then times UID SORT (ARRIVAL, SUBJECT, FROM, DATE) and
UID THREAD (REFERENCES, ORDEREDSUBJECT) on each: the first run (Dovecot builds its cache
then) and the median of the following ones. Prints a Markdown table.
"""

import argparse
import imaplib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import json

USER, PASSWORD = "bench", "bench-pass"
COMMANDS = [
    ("UID SORT (ARRIVAL)", "SORT", "(ARRIVAL) UTF-8 ALL"),
    ("UID SORT (SUBJECT)", "SORT", "(SUBJECT) UTF-8 ALL"),
    ("UID SORT (FROM)", "SORT", "(FROM) UTF-8 ALL"),
    ("UID SORT (DATE)", "SORT", "(DATE) UTF-8 ALL"),
    ("UID THREAD REFERENCES", "THREAD", "REFERENCES UTF-8 ALL"),
    ("UID THREAD ORDEREDSUBJECT", "THREAD", "ORDEREDSUBJECT UTF-8 ALL"),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} did not open")


def start_dovecot(d):
    for sub in ("run", "state", "mail"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    os.chmod(d, 0o755)
    os.chmod(os.path.join(d, "mail"), 0o1777)
    with open(os.path.join(d, "users"), "w") as f:
        f.write(f"{USER}:{{PLAIN}}{PASSWORD}:61000:61000::{d}/mail/{USER}::\n")
    port = free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(f"""base_dir = {d}/run
state_dir = {d}/state
instance_name = eider-sort-bench
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1000
first_valid_gid = 1000
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
    proc = subprocess.Popen(["dovecot", "-c", conf, "-F"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_eider(binary, d):
    api, imap = free_port(), free_port()
    proc = subprocess.Popen(
        [binary, "serve", "--set", f'storage.path="{d}"', "--set", f"api.port={api}",
         "--set", f"imap.port={imap}", "--set", "pop3.port=0", "--set", "lmtp.port=0",
         "--set", 'log.level="warn"'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(api)
    wait_port(imap)
    req = urllib.request.Request(
        f"http://127.0.0.1:{api}/users", method="POST",
        data=json.dumps({"username": USER, "password": PASSWORD,
                         "address": f"{USER}@example.com"}).encode(),
        headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()
    return proc, imap


def corpus(n, seed=7):
    rnd = random.Random(seed)
    words = ("budget plan report lunch meeting release invoice travel party review "
             "draft contract offer update question photos").split()
    people = [f"{w}{i}" for i, w in enumerate(("anna bob carl dora emil fay gus hana ivo jan "
                                               "kim lea max nora otto pia").split())]
    out = []
    for i in range(n):
        thread, pos = divmod(i, 5)
        subject = f"{words[thread % len(words)]} {thread}"
        prefix = "" if pos == 0 else rnd.choice(["Re: ", "RE: ", "Re: Re: ", "Fwd: ", "[list] Re: "])
        sender = rnd.choice(people)
        day = 1 + (i * 7919) % 28
        headers = [
            f"From: {sender.title()} <{sender}@example.org>",
            f"To: {rnd.choice(people)}@example.com",
            f"Subject: {prefix}{subject}",
            f"Date: {day} Mar 2024 {i % 24:02d}:{i % 60:02d}:00 +0100",
            f"Message-ID: <m{i}@bench>",
        ]
        if pos:
            refs = " ".join(f"<m{thread * 5 + k}@bench>" for k in range(pos))
            headers.append(f"References: {refs}")
            headers.append(f"In-Reply-To: <m{i - 1}@bench>")
        body = ("lorem ipsum " * rnd.randint(5, 200)).strip()
        internal = f'"{1 + i % 28:02d}-Apr-2024 {i % 24:02d}:{(i // 24) % 60:02d}:{i % 60:02d} +0000"'
        out.append((internal, ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()))
    return out


def fill(port, messages):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(USER, PASSWORD)
    for internal, raw in messages:
        typ, data = m.append("INBOX", None, internal, raw)
        assert typ == "OK", data
    m.logout()


def timings(port, runs):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(USER, PASSWORD)
    typ, data = m.select("INBOX")
    assert typ == "OK", data
    out = {}
    for label, verb, args in COMMANDS:
        samples = []
        size = 0
        for _ in range(runs):
            t = time.perf_counter()
            typ, data = m.uid(verb, *args.split(" ", 2))
            samples.append((time.perf_counter() - t) * 1000)
            assert typ == "OK", (label, data)
            size = len(data[0] or b"")
        out[label] = (samples[0], statistics.median(samples[1:]) if runs > 1 else samples[0], size)
    m.logout()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default = os.path.join(root, "target", "release", "eider")
    if not os.path.exists(default):
        default = os.path.join(root, "target", "debug", "eider")
    ap.add_argument("--eider", default=default)
    a = ap.parse_args()
    if not shutil.which("dovecot"):
        raise SystemExit("dovecot is not installed (bench/run installs it)")
    msgs = corpus(a.messages)
    tmp = tempfile.mkdtemp(prefix="sort-bench-")
    # Dovecot's auth and mail processes run as other users: they must reach the files.
    os.chmod(tmp, 0o755)
    procs = []
    try:
        dproc, dport = start_dovecot(os.path.join(tmp, "dovecot"))
        procs.append(dproc)
        eproc, eport = start_eider(a.eider, os.path.join(tmp, "eider"))
        procs.append(eproc)
        t = time.time()
        fill(dport, msgs)
        fill(eport, msgs)
        print(f"filled both with {len(msgs)} messages in {time.time() - t:.0f} s", file=sys.stderr)
        dov = timings(dport, a.runs)
        eid = timings(eport, a.runs)
        build = "release" if "/release/" in a.eider else "debug"
        print(f"| command ({len(msgs)} messages) | Dovecot first (ms) | Dovecot again (ms) "
              f"| Eider ({build}) first (ms) | Eider again (ms) | ratio again E/D |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, _, _ in COMMANDS:
            d1, d2, ds = dov[label]
            e1, e2, es = eid[label]
            print(f"| {label} | {d1:.1f} | {d2:.1f} | {e1:.1f} | {e2:.1f} | {e2 / d2:.2f} |")
            if label.startswith("UID SORT") and ds != es:
                print(f"|  (answer sizes differ: Dovecot {ds} bytes, Eider {es} bytes) | | | | | |")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
