#!/usr/bin/env python3
"""Eider's MongoDB backend against WildDuck on the same database server.

Starts its own SecantusDB (the MongoDB wire protocol; `pip install secantusdb`) and
redis-server on loopback ports, then Eider (`storage.backend = "mongodb"`) and, when
installed, WildDuck (`npm install wildduck` into --wildduck-dir, outside the
repository or in the git-ignored bench/.wildduck), each on its own database of
that one server and its own Redis database, and drives the same workload against
each: one LMTP connection delivering the corpus, one IMAP connection (SELECT,
FETCH metadata, FETCH BODY.PEEK[], UID SEARCH SUBJECT, STORE), one POP3
connection (RETR of all) and the HTTP API (message list, parsed message, upload
of a 10 KB message; one connection each, requests per second). Prints seconds
per phase and the Eider/WildDuck ratio.

    bench/run --backend mongodb [--messages N] [--eider PATH] [--wildduck-dir DIR]
    python3 bench/mongo_compare.py --eider target/release/eider --messages 300

The corpus is deterministic (seed 0xE1DE5): 2-200 KB, text-only and multipart
messages with base64 attachments, some attachments repeated.
"""

import argparse
import http.client
import imaplib
import json
import os
import poplib
import random
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

PASSWORD = "bench-secret-9"
DOMAIN = "example.com"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=60, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def corpus(n, seed=0xE1DE5):
    rnd = random.Random(seed)
    shared = [rnd.randbytes(rnd.randint(20_000, 150_000)) for _ in range(8)]
    words = ("alpha beta gamma delta report quarterly figures meeting budget plan "
             "review project status update invoice travel summary notes").split()
    out = []
    for i in range(n):
        subject = f"{rnd.choice(words).title()} {rnd.choice(words)} #{i}"
        if i % 50 == 7:
            subject = f"Needle {i}"
        text_len = rnd.randint(1_500, 60_000)
        body = []
        while sum(len(x) for x in body) < text_len:
            body.append(" ".join(rnd.choice(words) for _ in range(12)) + "\r\n")
        text = "".join(body)
        head = (f"From: Sender {i % 17} <s{i % 17}@example.org>\r\n"
                f"To: bench@{DOMAIN}\r\nSubject: {subject}\r\n"
                f"Message-ID: <m{i}.{seed}@bench.test>\r\n"
                f"Date: Mon, 7 Dec 2026 {i % 24:02d}:{i % 60:02d}:00 +0000\r\nMIME-Version: 1.0\r\n")
        if i % 3 == 0:
            att = shared[i % len(shared)] if i % 2 else rnd.randbytes(rnd.randint(5_000, 120_000))
            import base64
            b64 = base64.encodebytes(att).decode().replace("\n", "\r\n")
            msg = (head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
                   "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text +
                   f'--b1\r\nContent-Type: application/octet-stream; name="f{i}.bin"\r\n'
                   "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--b1--\r\n")
        else:
            msg = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
        out.append(msg.encode())
    return out


class Server:
    def __init__(self, name, proc, lmtp, imap, pop3, api, log):
        self.name, self.proc = name, proc
        self.lmtp, self.imap, self.pop3, self.api, self.log = lmtp, imap, pop3, api, log

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_eider(binary, work, mongo_url, redis_url):
    log = os.path.join(work, "eider.log")
    proc = subprocess.Popen(
        [binary, "serve",
         "--set", f'storage.path="{work}/data"',
         "--set", 'storage.backend="mongodb"',
         "--set", f'dbs.mongo="{mongo_url}"',
         "--set", f'dbs.redis="{redis_url}"',
         "--set", "api.port=0", "--set", "imap.port=0", "--set", "pop3.port=0",
         "--set", "lmtp.port=0", "--set", 'log.level="info"',
         "--set", "pop3.maxMessages=1000000", "--set", "maxStorage=100000000"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"})
    found = {}
    end = time.time() + 120
    while time.time() < end and len(found) < 4 and proc.poll() is None:
        for line in open(log, errors="replace"):
            for name in ("API", "IMAP", "POP3", "LMTP"):
                m = re.search(name + r" listening on (?:http://)?([\d.]+):(\d+)", line)
                if m:
                    found[name] = int(m.group(2))
        time.sleep(0.2)
    if len(found) < 4:
        proc.kill()
        raise RuntimeError("eider did not start:\n" + open(log, errors="replace").read()[-3000:])
    return Server("eider", proc, found["LMTP"], found["IMAP"], found["POP3"], found["API"], log)


def start_wildduck(wd_dir, work, mongo_url, redis_port, redis_db):
    """WildDuck from its npm package, configured by a copy of its config directory."""
    pkg = os.path.join(wd_dir, "node_modules", "wildduck")
    if not os.path.exists(os.path.join(pkg, "server.js")):
        raise RuntimeError(f"WildDuck is not installed in {wd_dir} (npm install wildduck)")
    conf = os.path.join(work, "config")
    shutil.copytree(os.path.join(pkg, "config"), conf)
    ports = {k: free_port() for k in ("imap", "pop3", "lmtp", "api")}
    # Plaintext logins on loopback (no TLS at all), a POP3 listing of every message.
    over = {
        "imap.toml": {"enabled": "true", "port": ports["imap"], "host": '"127.0.0.1"',
                      "secure": "false", "disableSTARTTLS": "true", "maxConnections": 100},
        "pop3.toml": {"enabled": "true", "port": ports["pop3"], "host": '"127.0.0.1"',
                      "secure": "false", "disableSTARTTLS": "true", "maxMessages": 1000000},
        "lmtp.toml": {"enabled": "true", "port": ports["lmtp"], "host": '"127.0.0.1"'},
        "api.toml": {"enabled": "true", "port": ports["api"], "host": '"127.0.0.1"',
                     "secure": "false"},
    }
    for fname, keys in over.items():
        path = os.path.join(conf, fname)
        lines, section = [], None
        for l in open(path).read().splitlines():
            st = l.strip()
            if st.startswith("["):
                section = st
            if section is None and "=" in st and not st.startswith("#") \
                    and st.split("=")[0].strip() in keys:
                continue
            lines.append(l)
        head = "".join(f"{k} = {v}\n" for k, v in keys.items())
        open(path, "w").write(head + "\n".join(lines) + "\n")
    # Log at info, as Eider does (WildDuck's default, "silly", logs every command).
    path = os.path.join(conf, "default.toml")
    text = open(path).read().replace('level = "silly"', 'level = "info"', 1)
    open(path, "w").write(text.replace("skipFetchLog = false", "skipFetchLog = true", 1))
    with open(os.path.join(conf, "dbs.toml"), "w") as f:
        f.write(f'mongo = "{mongo_url}"\nsender = "zone-mta"\n\n'
                f'[redis]\nhost = "127.0.0.1"\nport = {redis_port}\ndb = {redis_db}\n')
    log = os.path.join(work, "wildduck.log")
    proc = subprocess.Popen(["node", os.path.join(pkg, "server.js"), f"--config={conf}/default.toml"],
                            cwd=pkg, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, "NODE_ENV": "production"})
    for k in ("api", "imap", "pop3", "lmtp"):
        if not wait_port(ports[k], 120, proc):
            proc.kill()
            raise RuntimeError(f"wildduck did not open {k}:\n" + open(log, errors="replace").read()[-3000:])
    return Server("wildduck", proc, ports["lmtp"], ports["imap"], ports["pop3"], ports["api"], log)


def api(server, method, path, body=None, ctype="application/json"):
    c = http.client.HTTPConnection("127.0.0.1", server.api, timeout=600)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    c.request(method, path, body=data, headers={"Content-Type": ctype} if data else {})
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, json.loads(out or b"{}")


def rate(server, method, path_fn, seconds, body=None, ctype=None):
    """Requests per second over one keep-alive connection."""
    c = http.client.HTTPConnection("127.0.0.1", server.api, timeout=600)
    n, start = 0, time.time()
    while time.time() - start < seconds or n == 0:
        headers = {"Content-Type": ctype} if body is not None else {}
        c.request(method, path_fn(n), body=body, headers=headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"{method} {path_fn(n)}: HTTP {r.status}")
        n += 1
    return n / (time.time() - start)


def timed(results, name, fn):
    t = time.time()
    v = fn()
    results[name] = time.time() - t
    print(f"  [{name}] {results[name]:.2f}s", file=sys.stderr, flush=True)
    return v


def workload(server, msgs, http_seconds):
    r = {}
    status, u = api(server, "POST", "/users", {
        "username": "bench", "password": PASSWORD, "address": f"bench@{DOMAIN}",
        "quota": 1 << 40, "imapMaxConnections": 1000})
    if status != 200 or "id" not in u:
        raise RuntimeError(f"POST /users: {status} {u}")
    uid = u["id"]

    def lmtp():
        c = smtplib.LMTP("127.0.0.1", server.lmtp, timeout=600)
        c.ehlo("bench.test")
        for m in msgs:
            c.sendmail("s@example.org", [f"bench@{DOMAIN}"], m)
        c.quit()
    timed(r, "LMTP delivery", lmtp)

    im = imaplib.IMAP4("127.0.0.1", server.imap)
    im.login("bench", PASSWORD)
    timed(r, "IMAP SELECT", lambda: im.select("INBOX"))
    meta = timed(r, "FETCH 1:* metadata",
                 lambda: im.fetch("1:*", "(FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)"))
    if len([x for x in meta[1] if x]) < len(msgs):
        raise RuntimeError("FETCH metadata returned fewer messages")
    bodies = timed(r, "FETCH 1:* BODY.PEEK[]", lambda: im.fetch("1:*", "(BODY.PEEK[])"))
    got = sum(len(x[1]) for x in bodies[1] if isinstance(x, tuple))
    want = sum(len(m) for m in msgs)
    if got < want:
        raise RuntimeError(f"FETCH BODY[] returned {got} bytes of {want}")
    hits = timed(r, "UID SEARCH SUBJECT", lambda: im.uid("SEARCH", "SUBJECT", "needle"))
    if len(hits[1][0].split()) != len([i for i in range(len(msgs)) if i % 50 == 7]):
        raise RuntimeError(f"SEARCH found {hits[1]}")
    timed(r, "STORE 1:* +FLAGS", lambda: im.store("1:*", "+FLAGS.SILENT", "(\\Flagged)"))
    im.logout()

    def pop():
        p = poplib.POP3("127.0.0.1", server.pop3, timeout=600)
        p.user("bench")
        p.pass_(PASSWORD)
        count, _ = p.stat()
        if count < len(msgs):
            raise RuntimeError(f"POP3 lists {count} messages")
        for i in range(1, count + 1):
            p.retr(i)
        p.quit()
    timed(r, "POP3 RETR of all", pop)

    _, boxes = api(server, "GET", f"/users/{uid}/mailboxes")
    inbox = next(b["id"] for b in boxes["results"] if b["path"] == "INBOX")
    _, page = api(server, "GET", f"/users/{uid}/mailboxes/{inbox}/messages?limit=20")
    ids = [m["id"] for m in page["results"]]
    base = f"/users/{uid}/mailboxes/{inbox}/messages"
    r["HTTP message list (req/s)"] = rate(server, "GET", lambda n: base + "?limit=20", http_seconds)
    r["HTTP parsed message (req/s)"] = rate(
        server, "GET", lambda n: f"{base}/{ids[n % len(ids)]}", http_seconds)
    upload = msgs[1][:10_000] if len(msgs[1]) > 10_000 else msgs[1]
    r["HTTP upload 10 KB (req/s)"] = rate(server, "POST", lambda n: base, http_seconds,
                                          body=upload, ctype="message/rfc822")
    for k in list(r):
        if "req/s" in k:
            print(f"  [{k}] {r[k]:.2f}", file=sys.stderr, flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eider", default="target/release/eider")
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--wildduck-dir", default=os.path.join(os.path.dirname(__file__), ".wildduck"))
    ap.add_argument("--only", choices=["eider", "wildduck"])
    ap.add_argument("--http-seconds", type=float, default=5.0)
    ap.add_argument("--mongo-port", type=int, default=0)
    ap.add_argument("--redis-port", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="eider-mongo-bench-")
    mport = a.mongo_port or free_port()
    rport = a.redis_port or free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            ["secantusd-py", "--host", "127.0.0.1", "--port", str(mport),
             "--storage-path", os.path.join(work, "secantus")],
            stdout=open(os.path.join(work, "secantus.log"), "w"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(rport), "--save", "",
             "--appendonly", "no", "--dir", work],
            stdout=open(os.path.join(work, "redis.log"), "w"), stderr=subprocess.STDOUT))
        if not (wait_port(mport, 60, procs[0]) and wait_port(rport, 30, procs[1])):
            raise RuntimeError("SecantusDB or redis-server did not start (see " + work + ")")
        msgs = corpus(a.messages)
        print(f"corpus: {len(msgs)} messages, {sum(map(len, msgs)) / 1e6:.1f} MB; services in {work}",
              file=sys.stderr)
        results = {}
        for name in ("eider", "wildduck"):
            if a.only and a.only != name:
                continue
            d = os.path.join(work, name)
            os.makedirs(d)
            print(f"[{name}] starting", file=sys.stderr, flush=True)
            try:
                if name == "eider":
                    s = start_eider(a.eider, d, f"mongodb://127.0.0.1:{mport}/eider_bench",
                                    f"redis://127.0.0.1:{rport}/1")
                else:
                    s = start_wildduck(a.wildduck_dir, d, f"mongodb://127.0.0.1:{mport}/wildduck_bench",
                                       rport, 2)
            except Exception as e:  # report and go on with the other server
                print(f"[{name}] cannot start: {e}", file=sys.stderr)
                results[name] = {"error": str(e)}
                continue
            try:
                results[name] = workload(s, msgs, a.http_seconds)
            except Exception as e:
                print(f"[{name}] failed: {e}\n(log: {s.log})", file=sys.stderr)
                results[name] = {"error": str(e)}
            finally:
                s.stop()
        e, w = results.get("eider", {}), results.get("wildduck", {})
        keys = [k for k in (list(e) + list(w)) if k != "error"]
        keys = list(dict.fromkeys(keys))
        print(f"\n| phase ({a.messages} messages; s, or req/s) | WildDuck | Eider (MongoDB) | Eider / WildDuck |")
        print("|---|---:|---:|---:|")
        for k in keys:
            ev, wv = e.get(k), w.get(k)
            ratio = f"{ev / wv:.2f}" if isinstance(ev, float) and isinstance(wv, float) and wv else ""
            fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else "n/a"
            print(f"| {k} | {fmt(wv)} | {fmt(ev)} | {ratio} |")
        for name, v in results.items():
            if "error" in v:
                print(f"\n{name}: {v['error'][:2000]}")
        if a.out:
            with open(a.out, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
