"""POP3 protocol: RFC 1939 commands through Python's poplib and a raw socket, CAPA,
AUTH PLAIN, pipelining, limits, idle timeout, the plaintext-login policy."""

import poplib
import re
import socket
import time

import pytest

from pop3_util import (
    PASSWORD,
    RawPop3,
    deliver,
    plain_response,
    simple_message,
)


def pop(eider):
    host, port = eider.hostport("POP3")
    return poplib.POP3(host, port, timeout=15)


@pytest.fixture
def mailbox(eider):
    """A user with three messages in INBOX; returns (username, [raw messages])."""
    eider.create_user("pop.user")
    messages = [simple_message(f"message {i}", body=f"Body {i}\r\nline two\r\n") for i in (1, 2, 3)]
    deliver(eider, "pop.user", messages)
    return "pop.user", messages


def test_greeting_and_capabilities(eider):
    c = RawPop3(eider.hostport("POP3"))
    assert c.greeting.startswith(b"+OK")
    assert c.cmd("CAPA").startswith(b"+OK")
    caps = c.multiline().decode().split("\r\n")
    for cap in ["TOP", "UIDL", "USER", "SASL PLAIN", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "STLS"]:
        assert cap in caps, caps
    assert c.cmd("QUIT").startswith(b"+OK")
    assert c.line() == b""


def test_poplib_session(eider, mailbox):
    user, messages = mailbox
    p = pop(eider)
    assert p.user(user).startswith(b"+OK")
    assert p.pass_(PASSWORD).startswith(b"+OK")
    count, size = p.stat()
    assert count == 3
    assert size == sum(len(m) for m in messages)

    resp, listing, _ = p.list()
    assert resp.startswith(b"+OK")
    assert [tuple(map(int, l.split())) for l in listing] == [
        (i + 1, len(m)) for i, m in enumerate(messages)
    ]
    assert p.list(2) == b"+OK 2 %d" % len(messages[1])

    resp, uids, _ = p.uidl()
    ids = [l.split()[1].decode() for l in uids]
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids), ids
    assert len(set(ids)) == 3
    assert p.uidl(3).split()[2].decode() == ids[2]

    resp, lines, octets = p.retr(2)
    assert resp == b"+OK %d octets" % len(messages[1])
    assert b"\r\n".join(lines) + b"\r\n" == messages[1]

    resp, lines, _ = p.top(3, 0)
    header = messages[2].split(b"\r\n\r\n")[0]
    assert lines == header.split(b"\r\n") + [b""]
    resp, lines, _ = p.top(3, 1)
    assert lines[-1] == b"Body 3"
    assert p.noop().startswith(b"+OK")
    assert p.quit().startswith(b"+OK")

    # UIDLs are stable across sessions.
    p = pop(eider)
    p.user(user)
    p.pass_(PASSWORD)
    assert [l.split()[1].decode() for l in p.uidl()[1]] == ids
    p.quit()


def test_wrong_password_and_unknown_user(eider, mailbox):
    user, _ = mailbox
    p = pop(eider)
    p.user(user)
    with pytest.raises(poplib.error_proto) as err:
        p.pass_("wrong")
    assert err.value.args[0].startswith(b"-ERR [AUTH]")
    p.user("nobody.here")
    with pytest.raises(poplib.error_proto) as err:
        p.pass_(PASSWORD)
    assert err.value.args[0].startswith(b"-ERR [AUTH]")
    # Still in AUTHORIZATION: a correct login works.
    p.user(user)
    assert p.pass_(PASSWORD).startswith(b"+OK")
    p.quit()


def test_auth_plain_initial_response_and_continuation(eider, mailbox):
    user, _ = mailbox
    c = RawPop3(eider.hostport("POP3"))
    assert c.cmd("AUTH PLAIN " + plain_response(user)).startswith(b"+OK")
    assert c.cmd("STAT").startswith(b"+OK 3 ")
    c.cmd("QUIT")
    c.close()

    c = RawPop3(eider.hostport("POP3"))
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd(plain_response(user)).startswith(b"+OK")
    assert c.cmd("STAT").startswith(b"+OK 3 ")
    c.cmd("QUIT")
    c.close()

    c = RawPop3(eider.hostport("POP3"))
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd("*").startswith(b"-ERR")
    assert c.cmd("AUTH PLAIN " + plain_response(user, "bad")).startswith(b"-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN " + plain_response(user, authzid="someone.else")).startswith(b"-ERR")
    assert c.cmd("AUTH PLAIN !!notbase64").startswith(b"-ERR")
    assert c.cmd("AUTH CRAM-MD5").startswith(b"-ERR")
    assert c.cmd("AUTH").startswith(b"+OK")
    assert c.multiline() == b"PLAIN\r\n"
    assert c.cmd("STAT").startswith(b"-ERR")
    # poplib's own AUTH PLAIN helper? It has none; USER/PASS still works on this connection.
    c.login(user)
    c.cmd("QUIT")
    c.close()


def test_state_and_argument_errors(eider, mailbox):
    user, _ = mailbox
    c = RawPop3(eider.hostport("POP3"))
    assert c.cmd("STAT").startswith(b"-ERR")
    assert c.cmd("PASS x").startswith(b"-ERR")
    assert c.cmd("APOP a b").startswith(b"-ERR")
    assert c.cmd("BOGUS").startswith(b"-ERR")
    c.login(user)
    assert c.cmd("USER again").startswith(b"-ERR")
    for bad in ["RETR 0", "RETR 4", "RETR x", "TOP 1", "LIST 99", "UIDL 0", "DELE 7", "RETR"]:
        assert c.cmd(bad).startswith(b"-ERR"), bad
    assert c.cmd("DELE 1").startswith(b"+OK")
    assert c.cmd("DELE 1").startswith(b"-ERR")
    assert c.cmd("RETR 1").startswith(b"-ERR")
    assert c.cmd("LIST 1").startswith(b"-ERR")
    assert c.cmd("STAT").startswith(b"+OK 2 ")
    assert c.cmd("RSET").startswith(b"+OK")
    assert c.cmd("STAT").startswith(b"+OK 3 ")
    # Lower-case keywords are accepted.
    assert c.cmd("noop") == b"+OK"
    c.cmd("QUIT")


def test_overlong_line_is_refused_and_session_continues(eider, mailbox):
    user, _ = mailbox
    c = RawPop3(eider.hostport("POP3"))
    c.send(b"USER " + b"x" * 100_000 + b"\r\n")
    assert c.status().startswith(b"-ERR")
    c.login(user)
    assert c.cmd("STAT").startswith(b"+OK 3 ")
    c.cmd("QUIT")


def test_pipelined_commands_are_answered_in_order(eider, mailbox):
    user, messages = mailbox
    c = RawPop3(eider.hostport("POP3"))
    c.send(
        f"CAPA\r\nUSER {user}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\n"
        "TOP 2 0\r\nRETR 9\r\nNOOP\r\nDELE 3\r\nSTAT\r\nRSET\r\nQUIT\r\n".encode()
    )
    assert c.status().startswith(b"+OK")
    assert b"PIPELINING" in c.multiline()
    assert c.status().startswith(b"+OK")
    assert c.status().startswith(b"+OK")
    assert c.status() == b"+OK 3 %d" % sum(len(m) for m in messages)
    assert c.status().startswith(b"+OK")
    assert len(c.multiline().splitlines()) == 3
    assert re.fullmatch(rb"\+OK 1 [0-9a-f]{24}", c.status())
    assert c.status() == b"+OK %d octets" % len(messages[0])
    assert c.multiline() == messages[0]
    assert c.status().startswith(b"+OK")
    assert c.multiline() == messages[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert c.status().startswith(b"-ERR")
    assert c.status() == b"+OK"
    assert c.status().startswith(b"+OK")
    assert c.status().startswith(b"+OK 2 ")
    assert c.status().startswith(b"+OK")
    assert c.status().startswith(b"+OK")
    assert c.line() == b""


def test_newest_max_messages_are_listed_oldest_first(start_eider):
    eider = start_eider(extra_args=["--set", "pop3.maxMessages=3"])
    eider.create_user("newest.user")
    deliver(eider, "newest.user", [simple_message(f"n{i}") for i in range(1, 6)])
    p = pop(eider)
    p.user("newest.user")
    p.pass_(PASSWORD)
    assert p.stat()[0] == 3
    subjects = []
    for n in (1, 2, 3):
        lines = p.top(n, 0)[1]
        subjects += [l.decode() for l in lines if l.startswith(b"Subject:")]
    assert subjects == ["Subject: n3", "Subject: n4", "Subject: n5"]
    p.quit()


def test_idle_session_is_closed_without_update(start_eider):
    eider = start_eider(extra_args=["--set", "pop3.idleTimeout=1"])
    eider.create_user("idle.user")
    deliver(eider, "idle.user", [simple_message("idle one")])
    c = RawPop3(eider.hostport("POP3"))
    c.login("idle.user")
    assert c.cmd("DELE 1").startswith(b"+OK")
    time.sleep(2.5)
    assert c.status().startswith(b"-ERR")
    assert c.line() == b""
    c = RawPop3(eider.hostport("POP3"))
    c.login("idle.user")
    assert c.cmd("STAT").startswith(b"+OK 1 ")
    c.cmd("QUIT")


def proxied(eider, source_ip):
    sock = socket.create_connection(eider.hostport("POP3"), timeout=15)
    sock.sendall(f"PROXY TCP4 {source_ip} 127.0.0.1 40000 110\r\n".encode())
    return RawPop3(None, sock=sock)


def test_plaintext_login_is_refused_for_remote_clients_without_tls(start_eider):
    # A PROXY header makes the client look remote; without TLS USER/PASS is refused.
    eider = start_eider(extra_args=["--set", "pop3.useProxy=true"])
    eider.create_user("remote.user")
    c = proxied(eider, "192.0.2.10")
    assert c.greeting.startswith(b"+OK")
    assert c.cmd("CAPA").startswith(b"+OK")
    caps = c.multiline().decode().split("\r\n")
    assert "USER" not in caps and "SASL PLAIN" not in caps
    assert c.cmd("USER remote.user").startswith(b"-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN " + plain_response("remote.user")).startswith(b"-ERR")
    c.cmd("QUIT")
    # The same client address behind the proxy, but loopback: allowed.
    c = proxied(eider, "127.0.0.1")
    c.login("remote.user")
    c.cmd("QUIT")
    # Garbage instead of a PROXY header: the connection is dropped.
    sock = socket.create_connection(eider.hostport("POP3"), timeout=15)
    sock.sendall(b"CAPA\r\nQUIT\r\nNOOP\r\n\r\n")
    try:
        answer = sock.recv(100)
    except ConnectionResetError:
        answer = b""  # closed with our bytes unread
    assert answer == b""


def test_ignore_starttls_allows_plaintext_login_from_anywhere(start_eider):
    eider = start_eider(
        extra_args=["--set", "pop3.useProxy=true", "--set", "pop3.ignoreSTARTTLS=true"]
    )
    eider.create_user("anywhere.user")
    c = proxied(eider, "198.51.100.7")
    c.login("anywhere.user")
    assert c.cmd("QUIT").startswith(b"+OK")


def test_server_stop_ends_open_sessions_without_update(tmp_path):
    from conftest import Eider

    data = tmp_path / "stopdata"
    eider = Eider(data).wait_ready()
    eider.create_user("stop.user")
    deliver(eider, "stop.user", [simple_message("survivor")])
    c = RawPop3(eider.hostport("POP3"))
    c.login("stop.user")
    assert c.cmd("DELE 1").startswith(b"+OK")
    started = time.time()
    assert eider.stop() == 0
    assert time.time() - started < 5, "an idle POP3 session must not delay the stop"
    assert c.status().startswith(b"-ERR")
    assert c.line() == b""

    again = Eider(data).wait_ready()
    try:
        c = RawPop3(again.hostport("POP3"))
        c.login("stop.user")
        assert c.cmd("STAT").startswith(b"+OK 1 ")
        c.cmd("QUIT")
    finally:
        assert again.stop() == 0
