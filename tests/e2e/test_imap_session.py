"""IMAP connection state: greeting, CAPABILITY, LOGIN, AUTHENTICATE PLAIN (+SASL-IR),
LOGOUT, NOOP, ID, NAMESPACE, ENABLE, bad input."""

import base64
import imaplib

import pytest

from imaputil import PASSWORD, Raw, login, ok, raw_login, tagged


def test_greeting_and_capability(eider):
    host, port = eider.hostport("IMAP")
    r = Raw(host, port)
    assert r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1")
    lines = r.cmd("CAPABILITY")
    caps = lines[0].split()
    for c in [b"IMAP4rev1", b"IDLE", b"AUTH=PLAIN", b"SASL-IR", b"LITERAL+", b"UIDPLUS", b"MOVE",
              b"CONDSTORE", b"QRESYNC", b"ENABLE", b"ID", b"NAMESPACE", b"UNSELECT", b"SPECIAL-USE",
              b"QUOTA", b"UTF8=ACCEPT", b"STARTTLS", b"ESEARCH", b"BINARY", b"LIST-EXTENDED",
              b"LIST-STATUS", b"CHILDREN"]:
        assert c in caps, c
    assert any(c.startswith(b"APPENDLIMIT=") for c in caps)
    assert tagged(lines)[0] == "OK"
    r.close()


def test_login_success_and_failure(eider):
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice", "wrong")
    with pytest.raises(imaplib.IMAP4.error):
        m.login("nobody", "wrong")
    typ, data = m.login("alice", PASSWORD)
    assert typ == "OK"
    assert b"CAPABILITY" in data[0]
    ok(m.noop())
    typ, _ = m.logout()
    assert typ == "BYE"


def test_login_wrong_password_code(eider):
    eider.create_user("alice", PASSWORD)
    r = Raw(*eider.hostport("IMAP"))
    lines = r.cmd("LOGIN alice wrongpass")
    assert b" NO [AUTHENTICATIONFAILED]" in lines[-1]
    lines = r.cmd(f"LOGIN alice {PASSWORD}")
    assert tagged(lines)[0] == "OK"
    lines = r.cmd(f"LOGIN alice {PASSWORD}")
    assert tagged(lines)[0] == "BAD"


def test_login_with_literals(eider):
    eider.create_user("alice", PASSWORD)
    r = Raw(*eider.hostport("IMAP"))
    r.send("a1 LOGIN {5}\r\n")
    assert r.readline().startswith(b"+")
    r.send(f"alice {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n")
    lines = r.until_tagged("a1")
    assert tagged(lines)[0] == "OK", lines


def test_authenticate_plain_continuation(eider):
    eider.create_user("alice", PASSWORD)
    r = Raw(*eider.hostport("IMAP"))
    r.send("a1 AUTHENTICATE PLAIN\r\n")
    assert r.readline().startswith(b"+")
    r.send(base64.b64encode(b"\x00alice\x00" + PASSWORD.encode()) + b"\r\n")
    lines = r.until_tagged("a1")
    assert tagged(lines)[0] == "OK", lines


def test_authenticate_sasl_ir_and_cancel(eider):
    eider.create_user("alice", PASSWORD)
    r = Raw(*eider.hostport("IMAP"))
    bad = base64.b64encode(b"\x00alice\x00nope").decode()
    assert tagged(r.cmd(f"AUTHENTICATE PLAIN {bad}"))[0] == "NO"
    r.send("c1 AUTHENTICATE PLAIN\r\n")
    assert r.readline().startswith(b"+")
    r.send("*\r\n")
    assert tagged(r.until_tagged("c1"))[0] == "BAD"
    assert tagged(r.cmd("AUTHENTICATE PLAIN !!notbase64"))[0] == "BAD"
    assert tagged(r.cmd("AUTHENTICATE CRAM-MD5"))[0] == "NO"
    good = base64.b64encode(b"alice\x00alice\x00" + PASSWORD.encode()).decode()
    assert tagged(r.cmd(f"AUTHENTICATE PLAIN {good}"))[0] == "OK"


def test_imaplib_authenticate(eider):
    eider.create_user("alice", PASSWORD)
    m = imaplib.IMAP4(*eider.hostport("IMAP"))
    typ, _ = m.authenticate("PLAIN", lambda _: b"\x00alice\x00" + PASSWORD.encode())
    assert typ == "OK"
    m.logout()


def test_commands_before_login_are_refused(eider):
    r = Raw(*eider.hostport("IMAP"))
    for cmd in ["SELECT INBOX", "LIST \"\" *", "FETCH 1 FLAGS", "IDLE", "CREATE x"]:
        status, _ = tagged(r.cmd(cmd))
        assert status == "BAD", cmd
    assert tagged(r.cmd("NOOP"))[0] == "OK"
    lines = r.cmd("LOGOUT")
    assert lines[0].startswith(b"* BYE")
    assert tagged(lines)[0] == "OK"


def test_id_namespace_enable(eider):
    r = raw_login(eider)
    lines = r.cmd('ID ("name" "pytest" "version" "1")')
    assert lines[0].startswith(b'* ID ("name" "Eider"')
    assert tagged(r.cmd("ID NIL"))[0] == "OK"
    lines = r.cmd("NAMESPACE")
    assert lines[0] == b'* NAMESPACE (("" "/")) NIL NIL'
    lines = r.cmd("ENABLE CONDSTORE X-UNKNOWN")
    assert lines[0] == b"* ENABLED CONDSTORE"


def test_garbage_gets_bad_and_session_survives(eider):
    r = raw_login(eider)
    for junk in ["FOO", "FETCH", "SELECT", "STORE 1 XFLAGS (\\Seen)", "LIST (", "SEARCH (ALL",
                 "UID BOGUS 1", "FETCH 0 FLAGS", "APPEND"]:
        status, _ = tagged(r.cmd(junk))
        assert status == "BAD", junk
    r.send(b"\x00\x01\x02\xff\r\n")
    line = r.readline()
    assert b"BAD" in line
    r.send(b"+plus NOOP\r\n")
    assert b"BAD" in r.readline()
    assert tagged(r.cmd("NOOP"))[0] == "OK"


def test_other_connections_unaffected_by_bad_input(eider):
    good = login(eider)
    bad = raw_login(eider, create=False)
    bad.send(b"x" * 200_000 + b"\r\n")
    good.select("INBOX")
    ok(good.noop())
    assert b"BAD" in bad.readline()
    assert tagged(bad.cmd("NOOP"))[0] == "OK"


def test_connection_limit(start_eider):
    eider = start_eider(extra_args=["--set", "imap.maxConnections=2"])
    eider.create_user("alice", PASSWORD)
    a = login(eider, create=False)
    b = login(eider, create=False)
    m = imaplib.IMAP4(*eider.hostport("IMAP"))
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice", PASSWORD)
    a.logout()
    # A slot frees when a session ends.
    import time
    deadline = time.time() + 5
    while True:
        try:
            m.login("alice", PASSWORD)
            break
        except imaplib.IMAP4.error:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    b.logout()
    m.logout()
