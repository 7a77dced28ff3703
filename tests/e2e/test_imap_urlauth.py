"""URLAUTH (RFC 4467): GENURLAUTH, URLFETCH by the owner and by another user as
the access identifier allows, RESETKEY invalidating, and an authorized URL in
CATENATE."""

import re

from imap_ext_util import lit, server, session, status_of  # noqa: F401 (fixture)
from imaputil import SIMPLE


def gen(r, url):
    lines = r.cmd(f'GENURLAUTH "{url}" INTERNAL')
    assert status_of(lines) == b"OK", lines
    return re.match(rb'\* GENURLAUTH "([^"]+)"', lines[0]).group(1).decode()


def fetch(r, url):
    lines = r.cmd(f'URLFETCH "{url}"')
    assert status_of(lines) == b"OK", lines
    return lines[0]


def test_urlauth(server):
    alice = session(server, "alice")
    assert b"URLAUTH" in alice.cmd("CAPABILITY")[0]
    alice.cmd(b"APPEND INBOX " + lit(SIMPLE))
    own = gen(alice, "imap://alice@example.com/INBOX/;uid=1;urlauth=user+alice")
    assert re.search(r";urlauth=user\+alice:internal:[0-9a-f]{64}$", own), own
    anyone = gen(alice, "imap://alice@example.com/INBOX/;uid=1/;section=TEXT;urlauth=authuser")
    line = fetch(alice, own)
    assert line.endswith(SIMPLE), line
    bob = session(server, "bob")
    # "user+alice" is alice's only; "authuser" is anyone's who is logged in.
    assert fetch(bob, own).endswith(b" NIL")
    text = SIMPLE[SIMPLE.index(b"\r\n\r\n") + 4:]
    assert fetch(bob, anyone).endswith(text)
    # A changed token, or a URL it was not made for, reads nothing.
    assert fetch(alice, own[:-4] + "0000").endswith(b" NIL")
    assert fetch(alice, own.replace(";uid=1", ";uid=2")).endswith(b" NIL")
    # GENURLAUTH only for the user's own mailboxes, with a rump, INTERNAL.
    assert status_of(bob.cmd('GENURLAUTH "imap://alice@example.com/INBOX/;uid=1;urlauth=authuser" INTERNAL')) == b"NO"
    assert status_of(alice.cmd('GENURLAUTH "imap://alice@example.com/INBOX/;uid=1" INTERNAL')) == b"NO"
    assert status_of(alice.cmd('GENURLAUTH "imap://alice@example.com/INBOX/;uid=1;urlauth=authuser" OTHER')) == b"NO"
    # Bob may CATENATE alice's part with the authorized URL.
    lines = bob.cmd(b'APPEND INBOX CATENATE (TEXT ' + lit(b"Subject: fwd\r\n\r\n") + f' URL "{anyone}")'.encode())
    assert status_of(lines) == b"OK", lines
    # RESETKEY: every URL of the mailbox stops working.
    assert status_of(alice.cmd("RESETKEY INBOX")) == b"OK"
    assert fetch(alice, own).endswith(b" NIL")
    assert fetch(bob, anyone).endswith(b" NIL")
    fresh = gen(alice, "imap://alice@example.com/INBOX/;uid=1;urlauth=user+alice")
    assert fresh != own and fetch(alice, fresh).endswith(SIMPLE)
    # The key is not a METADATA entry a client can see.
    lines = alice.cmd("GETMETADATA (DEPTH infinity) INBOX (/private /shared)")
    assert b"urlauth" not in lines[0].lower(), lines
