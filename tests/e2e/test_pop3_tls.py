"""POP3 over TLS: STLS on the plaintext port (RFC 2595) and implicit TLS on a
`[pop3] secure` port, with the server's certificate (self-signed, kept in the data dir)."""

import poplib
import socket
import ssl

from pop3_util import PASSWORD, RawPop3, deliver, plain_response, simple_message


def trusted_context(eider):
    ctx = ssl.create_default_context(cafile=str(eider.data_dir / "tls" / "selfsigned.crt"))
    return ctx


def test_stls_then_login_and_retr(eider):
    eider.create_user("tls.user")
    deliver(eider, "tls.user", [simple_message("over tls")])
    host, port = eider.hostport("POP3")
    p = poplib.POP3(host, port, timeout=15)
    assert "STLS" in p.capa()
    p.stls(context=trusted_context(eider))
    # After the upgrade STLS is no longer offered.
    assert "STLS" not in p.capa()
    p.user("tls.user")
    p.pass_(PASSWORD)
    assert b"Subject: over tls" in p.retr(1)[1]
    p.quit()


def test_input_pipelined_after_stls_is_discarded(eider):
    eider.create_user("inject.user")
    c = RawPop3(eider.hostport("POP3"))
    # A man in the middle could append commands after STLS in the clear; they must not run.
    c.send(b"STLS\r\nUSER inject.user\r\n")
    assert c.status().startswith(b"+OK")
    tls = trusted_context(eider).wrap_socket(c.sock, server_hostname="localhost")
    tls_client = RawPop3.__new__(RawPop3)
    tls_client.sock = tls
    tls_client.file = tls.makefile("rb")
    assert tls_client.cmd("PASS " + PASSWORD).startswith(b"-ERR")
    assert tls_client.cmd("AUTH PLAIN " + plain_response("inject.user")).startswith(b"+OK")
    tls_client.cmd("QUIT")


def test_implicit_tls_port(start_eider):
    eider = start_eider(extra_args=["--set", "pop3.secure=true"])
    assert "POP3S" in eider.addresses and "POP3" not in eider.addresses
    eider.create_user("pop3s.user")
    deliver(eider, "pop3s.user", [simple_message("implicit")])
    host, port = eider.hostport("POP3S")
    p = poplib.POP3_SSL(host, port, context=trusted_context(eider), timeout=15)
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    p.user("pop3s.user")
    p.pass_(PASSWORD)
    assert p.stat()[0] == 1
    p.quit()
    # A plaintext client gets no POP3 greeting on the TLS port.
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"CAPA\r\n")
    try:
        data = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        data = b""
    assert not data.startswith(b"+OK")
    s.close()
