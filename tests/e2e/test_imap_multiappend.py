"""MULTIAPPEND (RFC 3502): several messages in one APPEND, stored all or none,
on both backends; the command's memory bound (2 x APPENDLIMIT in all)."""

import re
import socket

from imap_ext_util import lit, server, session, status_of  # noqa: F401 (fixture)
from imaputil import PASSWORD, make_message, raw_login


def count(r, mailbox="INBOX"):
    lines = r.cmd(f"STATUS {mailbox} (MESSAGES)")
    return int(re.search(rb"MESSAGES (\d+)", lines[0]).group(1))


def test_multiappend_stores_all_with_appenduid(server):
    r = session(server)
    cmd = (b"APPEND INBOX (\\Seen) " + lit(make_message(1, subject="first"))
           + b' (\\Flagged) "01-Jan-2020 10:00:00 +0000" ' + lit(make_message(2, subject="second"))
           + b" " + lit(make_message(3, subject="third")))
    lines = r.cmd(cmd)
    assert status_of(lines) == b"OK", lines
    m = re.search(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", lines[-1])
    assert m and m.group(2) == b"1:3", lines
    assert b"MULTIAPPEND" in r.cmd("CAPABILITY")[0]
    r.cmd("SELECT INBOX")
    lines = r.cmd("FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: first" in lines[0] and b"\\Seen" in lines[0]
    assert b"Subject: second" in lines[1] and b"\\Flagged" in lines[1]
    assert b"01-Jan-2020 10:00:00 +0000" in lines[1]
    assert b"Subject: third" in lines[2]


def test_multiappend_is_all_or_none(server):
    uid = server.create_user("quota-user", PASSWORD)
    r = raw_login(server, user="quota-user", create=False)
    r.cmd("APPEND INBOX " + "{%d+}\r\n%s" % (len(make_message(0)), make_message(0).decode()))
    before = server.api("GET", f"/users/{uid}")[1]["limits"]["quota"]["used"]
    # Room for the small messages, not for the large third: the first two are stored
    # by the store, then removed again when the third is refused.
    assert server.api("PUT", f"/users/{uid}", {"quota": before + 2000})[0] == 200
    big = make_message(9, body="x" * 5000)
    cmd = (b"APPEND INBOX " + lit(make_message(1)) + b" " + lit(make_message(2)) + b" " + lit(big))
    lines = r.cmd(cmd)
    assert status_of(lines) == b"NO" and b"[OVERQUOTA]" in lines[-1], lines
    assert count(r) == 1
    assert server.api("GET", f"/users/{uid}")[1]["limits"]["quota"]["used"] == before
    # A session that had the mailbox selected sees no trace of the partial append.
    r.cmd("SELECT INBOX")
    lines = r.cmd("FETCH 1:* (UID)")
    assert len(lines) == 2 and b"UID 1)" in lines[0], lines
    # An invalid later message (empty) refuses the whole command before storing.
    lines = r.cmd(b"APPEND INBOX " + lit(make_message(3)) + b" {0+}\r\n")
    assert status_of(lines) == b"NO", lines
    assert count(r) == 1
    # Missing mailbox: TRYCREATE, nothing stored anywhere.
    lines = r.cmd(b"APPEND Nope " + lit(make_message(4)) + b" " + lit(make_message(5)))
    assert b"NO [TRYCREATE]" in lines[-1], lines
    # After the refusals, a fitting MULTIAPPEND works and UIDs continue.
    lines = r.cmd(b"APPEND INBOX " + lit(make_message(6)) + b" " + lit(make_message(7)))
    assert status_of(lines) == b"OK", lines
    assert count(r) == 3


def test_multiappend_total_is_bounded(start_eider):
    # APPENDLIMIT 1 MB: each literal may be up to 1 MB, the command 2 MB in all.
    server = start_eider(extra_args=["--set", "imap.maxMB=1"])
    r = session(server)
    size = 900 * 1024
    body = make_message(1, body="y" * (size - 200))[:size]
    r.send(b"t1 APPEND INBOX {%d}\r\n" % len(body))
    assert r.readline().startswith(b"+")
    r.send(body + b" {%d}\r\n" % len(body))
    assert r.readline().startswith(b"+"), "second literal within 2 x APPENDLIMIT"
    r.send(body + b" {%d}\r\n" % len(body))
    # The third would pass 2 MB: refused before it is sent, nothing stored.
    line = r.readline()
    assert line.startswith(b"t1 NO [TOOBIG]"), line
    assert count(r) == 0
    # The session goes on.
    lines = r.cmd(b"APPEND INBOX " + lit(make_message(2)) + b" " + lit(make_message(3)))
    assert status_of(lines) == b"OK", lines
