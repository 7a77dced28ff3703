"""Sessions end when the credential they logged in with is revoked: disabling or
suspending the account ends every IMAP and POP3 session, a password change ends
those that used the account password, deleting an application password ends those
that used it. Sessions on other credentials keep working."""

import imaplib

import pytest

from auth_util import imap_login
from pop3_util import RawPop3

PASSWORD = "master password"
WAIT = 10  # seconds a session may take to notice; the answer comes at once


def imap_session(server, username, password):
    ok, client = imap_login(server, username, password)
    assert ok, client
    client.select("INBOX")
    client.sock.settimeout(WAIT)
    return client


def pop3_session(server, username, password):
    p = RawPop3(server.hostport("POP3"), timeout=WAIT)
    p.login(username, password)
    return p


def assert_imap_closed(client):
    """The server said BYE on its own and the next command fails."""
    line = client.readline()
    assert line.startswith(b"* BYE"), line
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        client.noop()


def assert_pop3_closed(p):
    line = p.line()
    assert line.startswith(b"-ERR"), line
    assert p.line() == b"", "the connection is closed"
    p.close()


def assert_imap_alive(client):
    assert client.noop()[0] == "OK"
    assert client.select("INBOX")[0] == "OK"
    client.logout()


def create_asp(server, uid, description):
    status, res = server.api("POST", f"/users/{uid}/asps", {"description": description})
    assert status == 200, res
    return res["id"], res["password"]


@pytest.mark.parametrize("field", ["disabled", "suspended"])
def test_disabling_or_suspending_ends_every_session(eider, field):
    uid = eider.create_user("locked", password=PASSWORD)
    _, asp = create_asp(eider, uid, "phone")
    imap_master = imap_session(eider, "locked", PASSWORD)
    imap_asp = imap_session(eider, "locked", asp)
    pop3 = pop3_session(eider, "locked", PASSWORD)

    status, res = eider.api("PUT", f"/users/{uid}", {field: True})
    assert status == 200, res

    assert_imap_closed(imap_master)
    assert_imap_closed(imap_asp)
    assert_pop3_closed(pop3)
    ok, _ = imap_login(eider, "locked", PASSWORD)
    assert not ok


def test_password_change_ends_the_sessions_that_used_it(eider):
    uid = eider.create_user("changer", password=PASSWORD)
    _, asp = create_asp(eider, uid, "laptop")
    imap_master = imap_session(eider, "changer", PASSWORD)
    pop3_master = pop3_session(eider, "changer", PASSWORD)
    imap_asp = imap_session(eider, "changer", asp)

    status, res = eider.api("PUT", f"/users/{uid}", {"password": "a new password"})
    assert status == 200, res

    assert_imap_closed(imap_master)
    assert_pop3_closed(pop3_master)
    # The application password was not changed: its session goes on.
    assert_imap_alive(imap_asp)
    ok, client = imap_login(eider, "changer", "a new password")
    assert ok, client
    client.logout()


def test_asp_deletion_ends_only_the_sessions_that_used_it(eider):
    uid = eider.create_user("aspowner", password=PASSWORD)
    asp_a_id, asp_a = create_asp(eider, uid, "old phone")
    _, asp_b = create_asp(eider, uid, "tablet")
    imap_a = imap_session(eider, "aspowner", asp_a)
    idle_a = imap_session(eider, "aspowner", asp_a)
    pop3_a = pop3_session(eider, "aspowner", asp_a)
    imap_b = imap_session(eider, "aspowner", asp_b)
    imap_master = imap_session(eider, "aspowner", PASSWORD)
    pop3_master = pop3_session(eider, "aspowner", PASSWORD)

    # One of them waits in IDLE, where the end comes as BYE too.
    tag = idle_a._new_tag().decode()
    idle_a.send(f"{tag} IDLE\r\n".encode())
    assert idle_a.readline().startswith(b"+")

    status, res = eider.api("DELETE", f"/users/{uid}/asps/{asp_a_id}")
    assert status == 200, res

    assert_imap_closed(imap_a)
    assert_imap_closed(idle_a)
    assert_pop3_closed(pop3_a)
    assert_imap_alive(imap_b)
    assert_imap_alive(imap_master)
    assert pop3_master.cmd("STAT").startswith(b"+OK")
    assert pop3_master.cmd("QUIT").startswith(b"+OK")
    pop3_master.close()
