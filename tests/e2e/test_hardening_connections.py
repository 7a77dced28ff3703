"""Connection exhaustion (issue #13 item 3): every listener caps its connections in
total and per client address and answers over the cap with its protocol's "try
later" while the other listeners keep serving; unauthenticated IMAP and POP3
sessions get a login deadline; POP3 and LMTP command lines (and LMTP DATA) get one
deadline each, not one per read; PROXY headers are taken only from trusted peers, on
LMTP too; the descriptor limit is raised at start and the caps fit under it."""

import functools
import json
import resource
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

import conftest
from pop3_util import RawPop3

PASSWORD = "secret-pass"


def connect(eider, name, timeout=10):
    sock = socket.create_connection(eider.hostport(name), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_line(sock):
    """One line (with its CRLF); b"" when the server closed first."""
    buf = b""
    while not buf.endswith(b"\n"):
        try:
            chunk = sock.recv(1)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def closed(sock):
    """True when the server closed the connection (reads end)."""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def health(eider, timeout=5):
    with urllib.request.urlopen(eider.api_url + "/health", timeout=timeout) as resp:
        return resp.status


def lmtp_greets(eider):
    sock = connect(eider, "LMTP")
    try:
        return read_line(sock).startswith(b"220 ")
    finally:
        sock.close()


def wait_admitted(eider, name, greeting, timeout=5):
    """Connect until a connection is greeted (a closed one's place is given back
    once the server sees the close)."""
    deadline = time.time() + timeout
    while True:
        sock = connect(eider, name)
        line = read_line(sock)
        if line.startswith(greeting):
            return sock
        sock.close()
        assert time.time() < deadline, line
        time.sleep(0.05)


def test_imap_cap_answers_try_later_while_other_listeners_serve(start_eider):
    eider = start_eider(extra_args=["--set", "imap.maxClients=3", "--set", "imap.maxClientsPerIP=10"])
    held = []
    for _ in range(3):
        sock = connect(eider, "IMAP")
        assert read_line(sock).startswith(b"* OK"), "within the cap"
        held.append(sock)
    extra = connect(eider, "IMAP")
    assert read_line(extra) == b"* BYE [UNAVAILABLE] Too many connections, try later\r\n"
    assert closed(extra)
    # Meanwhile the other listeners answer.
    assert health(eider) == 200
    assert lmtp_greets(eider)
    pop = RawPop3(eider.hostport("POP3"))
    assert pop.greeting.startswith(b"+OK")
    pop.close()
    # A closed connection gives its place back.
    held.pop().close()
    held.append(wait_admitted(eider, "IMAP", b"* OK"))
    for s in held:
        s.close()


def test_per_ip_caps_on_each_listener(start_eider):
    eider = start_eider(
        extra_args=[
            "--set", "imap.maxClientsPerIP=2",
            "--set", "pop3.maxClientsPerIP=1",
            "--set", "lmtp.maxClients=1",
            "--set", "api.maxClientsPerIP=2",
        ]
    )
    held = []
    for _ in range(2):
        sock = connect(eider, "IMAP")
        assert read_line(sock).startswith(b"* OK")
        held.append(sock)
    sock = connect(eider, "IMAP")
    assert read_line(sock).startswith(b"* BYE [UNAVAILABLE]")
    assert closed(sock)

    first = RawPop3(eider.hostport("POP3"))
    assert first.greeting.startswith(b"+OK")
    sock = connect(eider, "POP3")
    assert read_line(sock) == b"-ERR [SYS/TEMP] Too many connections, try later\r\n"
    assert closed(sock)

    lmtp = connect(eider, "LMTP")
    assert read_line(lmtp).startswith(b"220 ")
    sock = connect(eider, "LMTP")
    assert read_line(sock).startswith(b"421 4.3.2 ")
    assert closed(sock)

    # The API: two idle connections hold the address's places; a request on a third
    # gets 503 with WildDuck's error shape.
    api_held = [connect(eider, "API") for _ in range(2)]
    # Those two are admitted once axum has accepted them; a request proves it.
    api_held[0].sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert read_line(api_held[0]).startswith(b"HTTP/1.1 200")
    sock = connect(eider, "API")
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 "), answer
    assert json.loads(body) == {"error": "Too many connections", "code": "TooManyConnections"}
    for s in held + api_held + [lmtp]:
        s.close()
    first.close()


def test_unauthenticated_imap_is_closed_after_login_timeout(start_eider):
    eider = start_eider(extra_args=["--set", "imap.loginTimeout=2"])
    eider.create_user("alice", PASSWORD)
    sock = connect(eider, "IMAP")
    assert read_line(sock).startswith(b"* OK")
    started = time.time()
    # Busy but never logging in: each command is answered until the deadline.
    bye = None
    for n in range(20):
        try:
            sock.sendall(b"a%d NOOP\r\n" % n)
        except OSError:
            break
        line = read_line(sock)
        if line.startswith(b"* BYE"):
            bye = line
            break
        assert line.startswith(b"a%d OK" % n), line
        time.sleep(0.5)
    assert bye == b"* BYE Autologout; login not completed in time\r\n"
    assert time.time() - started < 6
    assert closed(sock)
    # A session that logs in is not held to it.
    sock = connect(eider, "IMAP")
    read_line(sock)
    sock.sendall(f"a LOGIN alice {PASSWORD}\r\n".encode())
    assert read_line(sock).startswith(b"a OK")
    time.sleep(2.5)
    sock.sendall(b"b NOOP\r\n")
    assert read_line(sock).startswith(b"b OK")
    sock.close()


def test_imap_authenticate_continuation_meets_the_login_deadline(start_eider):
    eider = start_eider(extra_args=["--set", "imap.loginTimeout=2"])
    sock = connect(eider, "IMAP")
    read_line(sock)
    sock.sendall(b"a AUTHENTICATE PLAIN\r\n")
    assert read_line(sock).startswith(b"+")
    # Never answer the challenge.
    assert read_line(sock) == b"* BYE Autologout; login not completed in time\r\n"
    assert closed(sock)


def test_unauthenticated_pop3_is_closed_after_login_timeout(start_eider):
    eider = start_eider(extra_args=["--set", "pop3.loginTimeout=2"])
    c = RawPop3(eider.hostport("POP3"))
    started = time.time()
    final = None
    for _ in range(20):
        try:
            c.send("NOOP\r\n")  # not valid before login: answered -ERR, still no login
        except OSError:
            break
        line = c.line()
        if b"autologout" in line or line == b"":
            final = line
            break
        time.sleep(0.5)
    assert final == b"-ERR autologout; login not completed in time\r\n"
    assert time.time() - started < 6
    assert c.line() == b""


def test_pop3_command_dripped_byte_by_byte_is_cut_off(start_eider):
    eider = start_eider(extra_args=["--set", "pop3.idleTimeout=2"])
    eider.create_user("drip.user", PASSWORD)
    c = RawPop3(eider.hostport("POP3"))
    c.login("drip.user")
    line, took = drip(c.sock, b"NOOP" + b" " * 30)
    assert line == b"-ERR autologout; idle for too long\r\n"
    assert took < 6


def drip(sock, data, gap=0.5, limit=8):
    """Send `data` a byte at a time until the server answers; the answer and when."""
    started = time.time()
    sock.settimeout(gap)
    for b in data:
        try:
            sock.sendall(bytes([b]))
        except OSError:
            break
        try:
            line = read_line(sock)
        except socket.timeout:
            assert time.time() - started < limit, "never cut off"
            continue
        return line, time.time() - started
    sock.settimeout(5)
    return read_line(sock), time.time() - started


def test_lmtp_command_and_data_dripped_are_cut_off(start_eider):
    eider = start_eider(extra_args=["--set", "lmtp.timeout=2"])
    eider.create_user("drip@example.com", PASSWORD)
    sock = connect(eider, "LMTP")
    assert read_line(sock).startswith(b"220 ")
    line, took = drip(sock, b"LHLO " + b"x" * 60)
    assert line.startswith(b"421 4.4.2"), line
    assert took < 6
    sock.close()

    sock = connect(eider, "LMTP")
    read_line(sock)
    sock.sendall(b"LHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<drip@example.com>\r\nDATA\r\n")
    lines = []
    while not (lines and lines[-1].startswith(b"354")):
        lines.append(read_line(sock))
        assert lines[-1], lines
    line, took = drip(sock, b"Subject: slow\r\n\r\n" + b"y" * 60)
    assert line.startswith(b"421 4.4.2"), line
    assert took < 6
    sock.close()


def proxy_v1(source_ip, port=40000):
    return f"PROXY TCP4 {source_ip} 127.0.0.1 {port} 24\r\n".encode()


def test_proxy_header_only_from_trusted_peers(start_eider):
    # Loopback is not trusted here: the header is refused and the connection closed.
    eider = start_eider(
        extra_args=[
            "--set", "imap.useProxy=true", "--set", 'imap.trustedProxies=["10.0.0.0/8"]',
            "--set", "pop3.useProxy=true", "--set", 'pop3.trustedProxies=["10.0.0.0/8"]',
            "--set", "lmtp.useProxy=true", "--set", 'lmtp.trustedProxies=["10.0.0.0/8"]',
        ]
    )
    for name in ("IMAP", "POP3", "LMTP"):
        sock = connect(eider, name)
        sock.sendall(proxy_v1("192.0.2.9"))
        assert read_line(sock) == b"", name
        sock.close()
    assert any("not in trustedProxies" in l for l in eider.log_lines)


def test_lmtp_reads_the_proxy_header_and_caps_the_named_client(start_eider):
    # Loopback is trusted by default; the per-address cap applies to the client the
    # header names, not to the proxy.
    eider = start_eider(extra_args=["--set", "lmtp.useProxy=true", "--set", "lmtp.maxClientsPerIP=1"])
    first = connect(eider, "LMTP")
    first.sendall(proxy_v1("192.0.2.10"))
    assert read_line(first).startswith(b"220 ")
    first.sendall(b"LHLO proxied.example\r\n")
    line = read_line(first)
    assert line.startswith(b"250"), line
    other = connect(eider, "LMTP")
    other.sendall(proxy_v1("192.0.2.11"))
    assert read_line(other).startswith(b"220 ")
    same = connect(eider, "LMTP")
    same.sendall(proxy_v1("192.0.2.10", 40001))
    assert read_line(same).startswith(b"421 4.3.2")
    for s in (first, other, same):
        s.close()


def start_with_nofile(start_eider, monkeypatch, soft, hard, extra_args=()):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    monkeypatch.setattr(conftest.subprocess, "Popen", functools.partial(subprocess.Popen, preexec_fn=limit))
    try:
        return start_eider(extra_args=list(extra_args))
    finally:
        monkeypatch.undo()


def test_descriptor_limit_is_raised_and_logged(start_eider, monkeypatch):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip("the hard descriptor limit is too low to raise")
    eider = start_with_nofile(start_eider, monkeypatch, 1024, hard)
    with open(f"/proc/{eider.proc.pid}/limits") as f:
        row = next(l for l in f if l.startswith("Max open files"))
    soft_now = int(row.split()[3])
    assert soft_now > 1024
    assert any(
        f"descriptor limit (RLIMIT_NOFILE) raised from 1024 to {soft_now}" in l for l in eider.log_lines
    ), eider.log_lines


def test_idle_imap_flood_under_1024_descriptors_leaves_the_api_answering(start_eider, monkeypatch):
    # The measurement: 1,100 idle IMAP sockets against a server limited to 1024
    # descriptors. The caps fit under the limit, so the extra connections get BYE and
    # the API, LMTP and IMAP itself keep answering.
    eider = start_with_nofile(
        start_eider, monkeypatch, 1024, 1024, ["--set", "imap.maxClientsPerIP=0"]
    )
    socks, greeted, refused = [], 0, 0
    try:
        for _ in range(1100):
            s = socket.create_connection(eider.hostport("IMAP"), timeout=10)
            socks.append(s)
        for s in socks:
            line = read_line(s)
            if line.startswith(b"* OK"):
                greeted += 1
            elif line.startswith(b"* BYE [UNAVAILABLE]"):
                refused += 1
        print(f"1100 idle IMAP sockets: {greeted} greeted, {refused} refused with BYE")
        assert greeted + refused == 1100
        assert refused > 0
        assert health(eider) == 200
        assert lmtp_greets(eider)
        assert any("maxClients lowered" in l for l in eider.log_lines), eider.log_lines
    finally:
        for s in socks:
            s.close()


def test_api_connections_have_deadlines(start_eider):
    """An API client cannot hold a connection (and a place under the caps) by
    staying silent, dripping a request's head or body, or not reading its answer."""
    eider = start_eider(extra_args=[
        "--set", "api.headerTimeout=2", "--set", "api.requestTimeout=2",
        "--set", "api.writeTimeout=2",
    ])
    # Silent, and a head that never ends: closed after the head deadline.
    silent = connect(eider, "API", timeout=8)
    partial = connect(eider, "API", timeout=8)
    partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    started = time.time()
    assert closed(silent) and closed(partial)
    assert time.time() - started < 7

    # A body that never arrives: 408 once the request deadline passes.
    body = connect(eider, "API", timeout=8)
    body.sendall(b"POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"username\":")
    assert read_line(body).startswith(b"HTTP/1.1 408")
    body.close()
    status, users = eider.api("GET", "/users")
    assert status == 200 and users["total"] == 0, users

    # A client that stops reading a large answer: the server gives up writing and
    # closes, instead of waiting for it forever.
    uid = eider.create_user("reader", address="reader@example.com")
    inbox = next(m["id"] for m in eider.api("GET", f"/users/{uid}/mailboxes")[1]["results"]
                 if m["path"] == "INBOX")
    raw = (b"From: a@example.com\r\nTo: reader@example.com\r\nSubject: big\r\n\r\n"
           + b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n" * 150_000)
    # Delivered over LMTP: an API upload of it could itself outlast the 2 s request
    # deadline on a loaded machine.
    import lmtp_support
    lmtp_support.deliver(eider, ["reader@example.com"], raw)
    listed = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages")[1]["results"]
    assert len(listed) == 1, listed
    up = {"message": {"id": listed[0]["id"]}}
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(10)
    stalled.connect(eider.hostport("API"))
    stalled.sendall(f"GET /users/{uid}/mailboxes/{inbox}/messages/{up['message']['id']}/message.eml "
                    "HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    time.sleep(6)  # well past writeTimeout, reading nothing
    received = 0
    try:
        while True:
            chunk = stalled.recv(65536)
            if not chunk:
                break
            received += len(chunk)
    except ConnectionResetError:
        pass
    assert received < len(raw), "the whole answer was still waiting to be written"
    assert health(eider) == 200


# Writes inside a command (issue #13 follow-up): a client that stops reading a large
# FETCH or RETR is cut after writeTimeout, and its place under the caps given back.

BIG_LINE = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n"


def big_message(eider, user):
    """A ~10 MB message in `user`'s INBOX (through the API: fast); its size."""
    import base64

    uid = eider.create_user(user, address=f"{user}@example.com")
    inbox = next(m["id"] for m in eider.api("GET", f"/users/{uid}/mailboxes")[1]["results"]
                 if m["path"] == "INBOX")
    raw = (f"From: a@example.com\r\nTo: {user}@example.com\r\nSubject: big\r\n\r\n".encode()
           + BIG_LINE * 150_000)
    status, up = eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages",
                           {"raw": base64.b64encode(raw).decode()})
    assert status == 200, up
    return len(raw)


def stalled_socket(eider, name):
    """A connection with a tiny receive buffer, so the server's writes block soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(eider.hostport(name))
    return sock


def drain(sock, timeout=5):
    """Read until the server closes: (bytes received, True), or (bytes, False) when it
    is still open after `timeout` seconds of silence."""
    sock.settimeout(timeout)
    received = 0
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received, True
            received += len(chunk)
    except socket.timeout:
        return received, False
    except OSError:  # reset, or a TLS stream cut without close_notify
        return received, True


def imap_login(sock, user):
    """LOGIN and SELECT INBOX on a raw IMAP socket (greeting not yet read)."""
    assert read_line(sock).startswith(b"* OK")
    sock.sendall(f"a LOGIN {user} {PASSWORD}\r\nb SELECT INBOX\r\n".encode())
    while True:
        line = read_line(sock)
        assert line, "closed during login"
        if line.startswith(b"b "):
            assert line.startswith(b"b OK"), line
            return


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "implicit-tls"])
def test_imap_fetch_to_a_client_that_stops_reading_is_cut(start_eider, tls):
    # Under TLS the deadline still applies: it sits on the socket, under TLS and DEFLATE.
    args = ["--set", "imap.writeTimeout=2", "--set", "imap.maxClientsPerIP=1"]
    if tls:
        args += ["--set", "imap.secure=true"]
    eider = start_eider(extra_args=args)
    name = "IMAPS" if tls else "IMAP"
    size = big_message(eider, "fetcher")
    sock = stalled_socket(eider, name)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock)
    imap_login(sock, "fetcher")
    sock.sendall(b"f FETCH 1 BODY[]\r\n")
    time.sleep(5)  # well past writeTimeout, reading nothing
    received, ended = drain(sock)
    assert ended, f"still open after {received} bytes: the server waits for the reader forever"
    assert received < size, "the whole answer was written"
    sock.close()
    # The place under maxClientsPerIP=1 was given back.
    if not tls:
        wait_admitted(eider, "IMAP", b"* OK").close()
    else:
        again = ctx.wrap_socket(connect(eider, name))
        assert read_line(again).startswith(b"* OK")
        again.close()


def test_pop3_retr_to_a_client_that_stops_reading_is_cut(start_eider):
    eider = start_eider(extra_args=[
        "--set", "pop3.writeTimeout=2", "--set", "pop3.maxClientsPerIP=1",
    ])
    size = big_message(eider, "retriever")
    c = RawPop3(eider.hostport("POP3"), sock=stalled_socket(eider, "POP3"))
    assert c.greeting.startswith(b"+OK")
    c.login("retriever")
    c.send("RETR 1\r\n")
    time.sleep(5)  # well past writeTimeout, reading nothing
    received, ended = drain(c.sock)
    assert ended, f"still open after {received} bytes: the server waits for the reader forever"
    assert received < size, "the whole answer was written"
    c.close()
    wait_admitted(eider, "POP3", b"+OK").close()


def test_imap_command_dripped_after_login_is_cut_off(start_eider):
    eider = start_eider(extra_args=["--set", "imap.idleTimeout=2"])
    eider.create_user("imap.drip", PASSWORD)
    sock = connect(eider, "IMAP")
    imap_login(sock, "imap.drip")
    # A line that never ends, and a literal that never ends: each cut within the deadline.
    line, took = drip(sock, b"c NOOP" + b" " * 30)
    assert line == b"* BYE Autologout; idle for too long\r\n", line
    assert took < 6
    sock.close()
    sock = connect(eider, "IMAP")
    imap_login(sock, "imap.drip")
    sock.sendall(b"d APPEND INBOX {40}\r\n")
    assert read_line(sock).startswith(b"+")
    line, took = drip(sock, b"x" * 39)
    assert line == b"* BYE Autologout; idle for too long\r\n", line
    assert took < 6
    sock.close()
