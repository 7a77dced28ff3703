"""RETR and TOP frame any content exactly: dot-stuffed lines, a lone ".", an open last
line, bare LF line endings, large messages streamed across many chunks. The octet
counts in LIST, STAT and the RETR status are the stored size (RFC822.SIZE)."""

import base64
import os

import pytest

from pop3_util import RawPop3, as_sent, deliver, split_lines, unstuff

HEAD = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: %s\r\n"

FIXTURES = {
    "leading dots": HEAD % b"dots" + b"\r\n.one\r\n..two\r\n...three\r\nno.dot\r\n",
    "lone dot line": HEAD % b"lone" + b"\r\nbefore\r\n.\r\nafter\r\n",
    "ends with lone dot": HEAD % b"enddot" + b"\r\nlast line is a dot\r\n.\r\n",
    "no final newline": HEAD % b"open" + b"\r\nthe end has no newline",
    "no final newline, dot": HEAD % b"opendot" + b"\r\nline\r\n.",
    "dot after blank": HEAD % b"blank" + b"\r\n\r\n.\r\n\r\n.x\r\n",
    "bare LF": b"From: a@example.com\nSubject: lf\n\n.lf body\nline\n.\n",
    "bare LF, open end": b"From: a@example.com\nSubject: lfopen\n\n.a\n.",
    "headers only": HEAD % b"headers only",
    "dot headers": b".Weird: header\r\nSubject: dotheader\r\n\r\nbody\r\n",
}


def big_message():
    """About 3 MB: a text part full of dot lines and a base64 attachment."""
    text = b"".join(b".line %d\r\n" % i if i % 3 == 0 else b"line %d\r\n" % i for i in range(60_000))
    blob = base64.encodebytes(os.urandom(1_500_000)).replace(b"\n", b"\r\n")
    return (
        HEAD % b"big"
        + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        + b"--XX\r\nContent-Type: text/plain\r\n\r\n"
        + text
        + b"--XX\r\nContent-Type: application/octet-stream\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"--XX--\r\n"
    )


@pytest.fixture
def fixtures(eider):
    eider.create_user("dot.user")
    messages = list(FIXTURES.values()) + [big_message()]
    deliver(eider, "dot.user", messages)
    return messages


def header_part(raw):
    """What TOP n 0 sends: the header and the blank line after it (everything if none)."""
    out = []
    for line in split_lines(raw):
        out.append(line)
        if line in (b"\r\n", b"\n"):
            break
    return b"".join(out)


def test_retr_round_trips_every_fixture_byte_exact(eider, fixtures):
    c = RawPop3(eider.hostport("POP3"))
    c.login("dot.user")
    assert c.cmd("STAT") == b"+OK %d %d" % (len(fixtures), sum(len(m) for m in fixtures))
    assert c.cmd("LIST").startswith(b"+OK")
    sizes = [int(l.split()[1]) for l in c.multiline().splitlines()]
    assert sizes == [len(m) for m in fixtures]
    for n, raw in enumerate(fixtures, start=1):
        assert c.cmd(f"RETR {n}") == b"+OK %d octets" % len(raw)
        sent = c.multiline_raw()
        # No line of the answer may be a lone "." (that would end it early).
        assert b".\r\n" not in split_lines(sent)
        assert unstuff(sent) == as_sent(raw), f"message {n}"
    c.cmd("QUIT")


def test_top_sends_header_and_requested_lines(eider, fixtures):
    c = RawPop3(eider.hostport("POP3"))
    c.login("dot.user")
    for n, raw in enumerate(fixtures, start=1):
        assert c.cmd(f"TOP {n} 0").startswith(b"+OK")
        assert c.multiline() == as_sent(header_part(raw)), f"message {n}"
        # A huge line count sends the whole message.
        assert c.cmd(f"TOP {n} 99999999").startswith(b"+OK")
        assert c.multiline() == as_sent(raw), f"message {n}"
    # Two body lines of the first fixture, the first of them dot-stuffed on the wire.
    assert c.cmd("TOP 1 2").startswith(b"+OK")
    sent = c.multiline_raw()
    assert sent.endswith(b"\r\n\r\n..one\r\n...two\r\n")
    c.cmd("QUIT")
