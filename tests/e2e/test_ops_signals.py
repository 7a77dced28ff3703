"""SIGTERM: the listeners stop accepting, IMAP clients get `* BYE`, a command in
flight finishes, and the process exits 0 within the grace period. SIGHUP keeps the
server running (it reloads TLS; see docs/operations.md)."""

import signal
import socket
import time

from imaputil import Raw


def test_sigterm_says_bye_and_exits_cleanly(start_eider, tmp_path):
    eider = start_eider(tmp_path / "data")
    eider.create_user("fred", "fred-pass-1")
    host, port = eider.hostport("IMAP")
    c = Raw(host, port)
    c.sock.sendall(b"a1 LOGIN fred fred-pass-1\r\n")
    line = c.readline()
    while not line.startswith(b"a1 "):
        line = c.readline()
    assert line.startswith(b"a1 OK"), line
    c.sock.sendall(b"a2 SELECT INBOX\r\n")
    line = c.readline()
    while not line.startswith(b"a2 "):
        line = c.readline()

    eider.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert eider.proc.poll() is None, "SIGHUP stopped the server"

    started = time.monotonic()
    eider.proc.send_signal(signal.SIGTERM)
    c.sock.settimeout(10)
    got = []
    try:
        while not any(l.startswith(b"* BYE") for l in got):
            got.append(c.readline())
    except EOFError:
        pass
    assert any(l.startswith(b"* BYE") for l in got), got
    code = eider.proc.wait(15)
    assert code == 0
    assert time.monotonic() - started < 10
    # Nothing listens any more.
    try:
        socket.create_connection((host, port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    assert refused
