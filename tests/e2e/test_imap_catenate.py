"""CATENATE (RFC 4469): messages assembled from text literals and IMAP URLs of
stored messages and parts (RFC 5092 relative URLs), also inside MULTIAPPEND."""

import re

from imap_ext_util import lit, server, session, status_of  # noqa: F401 (fixture)
from imaputil import MULTIPART, SIMPLE


def body_of(r, seq):
    lines = r.cmd(f"FETCH {seq} BODY.PEEK[]")
    data = lines[0]
    return data[data.index(b"}\r\n") + 3:-1]


def test_catenate_text_and_urls(server):
    r = session(server)
    r.cmd("CREATE Src")
    r.cmd(b"APPEND Src " + lit(SIMPLE))
    r.cmd(b"APPEND Src " + lit(MULTIPART))
    lines = r.cmd("SELECT Src")
    validity = re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1).decode()
    r.cmd("UNSELECT")
    cmd = (b'APPEND INBOX (\\Seen) CATENATE (URL "/Src/;uid=1/;section=HEADER" TEXT '
           + lit("New body.\r\n") + b")")
    lines = r.cmd(cmd)
    assert status_of(lines) == b"OK" and b"APPENDUID" in lines[-1], lines
    # With UIDVALIDITY, a part, a partial range, and a URL whose mailbox has a space.
    r.cmd('CREATE "My Box"')
    r.cmd(b'APPEND "My Box" ' + lit(SIMPLE))
    cmd = (b"APPEND INBOX CATENATE (TEXT " + lit("Subject: parts\r\n\r\n")
           + f' URL "/Src;UIDVALIDITY={validity}/;UID=2/;SECTION=1" URL "/My%20Box/;uid=1/;section=TEXT/;partial=0.11")'.encode())
    lines = r.cmd(cmd)
    assert status_of(lines) == b"OK", lines
    # The whole message by URL, in a MULTIAPPEND with a plain literal.
    lines = r.cmd(b'APPEND INBOX CATENATE (URL "/Src/;uid=1") ' + lit(SIMPLE))
    assert status_of(lines) == b"OK" and b"APPENDUID" in lines[-1], lines
    r.cmd("SELECT INBOX")
    first = body_of(r, 1)
    header_end = SIMPLE.index(b"\r\n\r\n") + 4
    assert first == SIMPLE[:header_end] + b"New body.\r\n", first
    second = body_of(r, 2)
    assert second == b"Subject: parts\r\n\r\nCaf=C3=A9 au lait, first part.Hello Alice", second
    assert body_of(r, 3) == SIMPLE and body_of(r, 4) == SIMPLE
    assert b"CATENATE" in r.cmd("CAPABILITY")[0]


def test_catenate_refusals(server):
    r = session(server)
    r.cmd(b"APPEND INBOX " + lit(SIMPLE))
    bad = [
        # Wrong UIDVALIDITY, missing message, missing part, unknown mailbox, junk.
        b'URL "/INBOX;uidvalidity=1/;uid=1"',
        b'URL "/INBOX/;uid=99"',
        b'URL "/INBOX/;uid=1/;section=4.1"',
        b'URL "/Missing/;uid=1"',
        b'URL "/INBOX/;uid=x"',
        b'URL "imap://someone-else@host/INBOX/;uid=1"',
    ]
    for url in bad:
        lines = r.cmd(b"APPEND INBOX CATENATE (TEXT " + lit("a: b\r\n\r\n") + b" " + url + b")")
        assert status_of(lines) == b"NO" and b"[BADURL" in lines[-1], (url, lines)
    # The target is checked first: TRYCREATE whatever the URL.
    lines = r.cmd(b'APPEND Nope CATENATE (URL "/INBOX;uidvalidity=1/;uid=1")')
    assert b"NO [TRYCREATE]" in lines[-1], lines
    # A bad URL in the second message of a MULTIAPPEND stores neither.
    lines = r.cmd(b"APPEND INBOX " + lit(SIMPLE) + b' CATENATE (URL "/INBOX/;uid=77")')
    assert status_of(lines) == b"NO", lines
    lines = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 1" in lines[0], lines
    lines = r.cmd(b"APPEND INBOX CATENATE (FOO x)")
    assert status_of(lines) == b"BAD", lines


def test_catenate_result_is_bounded(start_eider):
    server = start_eider(extra_args=["--set", "imap.maxMB=1"])
    r = session(server)
    big = b"Subject: big\r\n\r\n" + b"z" * (700 * 1024) + b"\r\n"
    r.cmd(b"APPEND INBOX " + lit(big))
    # Two copies of a 700 KB message make more than APPENDLIMIT (1 MB).
    lines = r.cmd(b'APPEND INBOX CATENATE (URL "/INBOX/;uid=1" URL "/INBOX/;uid=1")')
    assert b"NO [TOOBIG]" in lines[-1], lines
    lines = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 1" in lines[0], lines
