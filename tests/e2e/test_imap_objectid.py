"""OBJECTID (RFC 8474): MAILBOXID, EMAILID and THREADID in SELECT, STATUS,
CREATE and FETCH, SEARCH EMAILID/THREADID; stable across renames, copies and a
restart (they are the store's own ids)."""

import re

from imap_ext_util import lit, server, session, status_of  # noqa: F401 (fixture)
from imaputil import SIMPLE, raw_login


def mailbox_id(lines):
    return re.search(rb"MAILBOXID \(([A-Za-z0-9_-]+)\)", b"\n".join(lines)).group(1)


def ids(line):
    e = re.search(rb"EMAILID \(([A-Za-z0-9_-]+)\)", line).group(1)
    t = re.search(rb"THREADID \(([A-Za-z0-9_-]+)\)", line).group(1)
    return e, t


REPLY = (b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Re: Hello there\r\n"
         b"Message-ID: <reply@example.com>\r\nIn-Reply-To: <simple@example.com>\r\n"
         b"References: <simple@example.com>\r\n\r\nThanks.\r\n")
OTHER = b"From: x@example.com\r\nSubject: unrelated\r\nMessage-ID: <other@example.com>\r\n\r\nHi\r\n"


def test_object_ids(server):
    r = session(server)
    assert b"OBJECTID" in r.cmd("CAPABILITY")[0]
    lines = r.cmd("CREATE Work")
    assert status_of(lines) == b"OK"
    created = mailbox_id(lines[-1:])
    assert mailbox_id(r.cmd("STATUS Work (MAILBOXID MESSAGES)")) == created
    assert status_of(r.cmd("RENAME Work Play")) == b"OK"
    assert mailbox_id(r.cmd("STATUS Play (MAILBOXID)")) == created
    assert mailbox_id(r.cmd("SELECT Play")) == created
    inbox = mailbox_id(r.cmd("STATUS INBOX (MAILBOXID)"))
    assert inbox != created
    for raw in (SIMPLE, REPLY, OTHER):
        assert status_of(r.cmd(b"APPEND Play " + lit(raw))) == b"OK"
    lines = r.cmd("NOOP")
    lines = r.cmd("FETCH 1:3 (UID EMAILID THREADID)")
    (e1, t1), (e2, t2), (e3, t3) = [ids(l) for l in lines[:3]]
    assert len({e1, e2, e3}) == 3
    assert t1 == t2 and t3 != t1, "a reply joins its thread"
    # A copy keeps its EMAILID (same content) and THREADID.
    r.cmd("COPY 1 INBOX")
    lines = r.cmd("UID SEARCH EMAILID " + e1.decode())
    assert lines[0] == b"* SEARCH 1", lines
    lines = r.cmd("SEARCH THREADID " + t1.decode())
    assert lines[0] == b"* SEARCH 1 2", lines
    assert r.cmd("SEARCH EMAILID Mnotanid")[0] == b"* SEARCH"
    assert status_of(r.cmd("SEARCH EMAILID bad!id")) == b"BAD"
    r.cmd("SELECT INBOX")
    lines = r.cmd("FETCH 1 (EMAILID THREADID)")
    assert ids(lines[0]) == (e1, t1)


def test_ids_survive_a_restart(start_eider, tmp_path):
    data = tmp_path / "keep"
    a = start_eider(data_dir=data)
    r = raw_login(a)
    r.cmd(b"APPEND INBOX " + lit(SIMPLE))
    before = mailbox_id(r.cmd("SELECT INBOX"))
    msg = r.cmd("FETCH 1 (EMAILID THREADID)")[0]
    r.close()
    assert a.stop() == 0
    b = start_eider(data_dir=data)
    r = raw_login(b, create=False)
    assert mailbox_id(r.cmd("SELECT INBOX")) == before
    assert ids(r.cmd("FETCH 1 (EMAILID THREADID)")[0]) == ids(msg)
