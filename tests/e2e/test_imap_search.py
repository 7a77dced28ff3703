"""SEARCH: every key class, AND/OR/NOT nesting, sequence and UID sets,
CHARSET, ESEARCH, MODSEQ."""

import imaplib

import pytest

from imaputil import MULTIPART, SIMPLE, login, make_message, ok, raw_login, tagged


def nums(data):
    return [int(x) for x in data[0].split()] if data and data[0] else []


def box(eider):
    m = login(eider)
    ok(m.append("INBOX", "(\\Seen)", '"01-Jan-2020 10:00:00 +0000"', SIMPLE))
    ok(m.append("INBOX", "(\\Flagged $Work)", '"15-Mar-2021 10:00:00 +0000"', MULTIPART))
    ok(m.append("INBOX", None, '"20-Jun-2022 23:30:00 +0000"',
                make_message(3, subject="Lunch plans", body="Let us meet at noon", sender="erin@example.com")))
    m.select("INBOX")
    return m


def test_flag_and_size_keys(eider):
    m = box(eider)
    assert nums(ok(m.search(None, "ALL"))) == [1, 2, 3]
    assert nums(ok(m.search(None, "SEEN"))) == [1]
    assert nums(ok(m.search(None, "UNSEEN"))) == [2, 3]
    assert nums(ok(m.search(None, "FLAGGED"))) == [2]
    assert nums(ok(m.search(None, "KEYWORD", "$Work"))) == [2]
    assert nums(ok(m.search(None, "UNKEYWORD", "$Work"))) == [1, 3]
    assert nums(ok(m.search(None, "LARGER", str(len(SIMPLE))))) == [2]
    assert nums(ok(m.search(None, "SMALLER", "200"))) == [3]
    assert nums(ok(m.search(None, "NEW"))) == [2, 3]
    assert nums(ok(m.search(None, "OLD"))) == []
    assert nums(ok(m.search(None, "RECENT"))) == [1, 2, 3]
    assert nums(ok(m.search(None, "DELETED"))) == []


def test_text_keys(eider):
    m = box(eider)
    assert nums(ok(m.search(None, "FROM", "BOB"))) == [1]
    assert nums(ok(m.search(None, "TO", "alice"))) == [1, 2, 3]
    assert nums(ok(m.search(None, "CC", "carol"))) == [1]
    assert nums(ok(m.search(None, "SUBJECT", "lunch"))) == [3]
    assert nums(ok(m.search(None, "BODY", "needle"))) == [1]
    assert nums(ok(m.search(None, "TEXT", "noon"))) == [3]
    assert nums(ok(m.search(None, "TEXT", "erin@example"))) == [3]
    assert nums(ok(m.search(None, "HEADER", "X-Custom", "special"))) == [1]
    assert nums(ok(m.search(None, "HEADER", "X-Custom", '""'))) == [1]
    assert nums(ok(m.search("UTF-8", "BODY", '"café"'.encode()))) == [2]
    assert nums(ok(m.search(None, "SUBJECT", "Grüße".encode()))) in ([2], [])
    typ, data = m.search("KOI8-R", "TEXT", "x")
    assert typ == "NO" and b"BADCHARSET" in data[0]


def test_date_keys(eider):
    m = box(eider)
    assert nums(ok(m.search(None, "BEFORE", "1-Jan-2021"))) == [1]
    assert nums(ok(m.search(None, "SINCE", "15-Mar-2021"))) == [2, 3]
    assert nums(ok(m.search(None, "ON", "20-Jun-2022"))) == [3]
    # Date: header comparisons use the header's own day: message 1 is 7-Feb-1994
    # -0800 (8-Feb-1994 05:52 in UTC).
    assert nums(ok(m.search(None, "SENTBEFORE", "1-Jan-2000"))) == [1, 2]
    assert nums(ok(m.search(None, "SENTON", "7-Feb-1994"))) == [1]
    assert nums(ok(m.search(None, "SENTON", "8-Feb-1994"))) == [2]
    assert nums(ok(m.search(None, "SENTSINCE", "9-Feb-1994"))) == [3]


def test_boolean_and_sets(eider):
    m = box(eider)
    assert nums(ok(m.search(None, "OR", "SEEN", "FLAGGED"))) == [1, 2]
    assert nums(ok(m.search(None, "NOT", "SEEN"))) == [2, 3]
    assert nums(ok(m.search(None, "(OR SEEN FLAGGED)", "NOT", "FROM", "dave"))) == [1]
    assert nums(ok(m.search(None, "2:*"))) == [2, 3]
    assert nums(ok(m.search(None, "UID", "1,3"))) == [1, 3]
    assert nums(ok(m.search(None, "NOT", "UID", "2:*"))) == [1]
    assert nums(ok(m.uid("SEARCH", "UNSEEN"))) == [2, 3]
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    assert nums(ok(m.search(None, "ALL"))) == [1, 2]
    assert nums(ok(m.uid("SEARCH", "ALL"))) == [2, 3]
    assert nums(ok(m.search(None, "5:9"))) == []
    with pytest.raises(imaplib.IMAP4.error):
        m.search(None, "BOGUS")


def test_esearch_and_modseq(eider):
    box(eider)
    r = raw_login(eider, create=False)
    r.cmd("SELECT INBOX")
    lines = r.cmd("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN", tag="t1")
    assert lines[0] == b'* ESEARCH (TAG "t1") MIN 2 MAX 3 COUNT 2 ALL 2:3'
    lines = r.cmd("UID SEARCH RETURN () ALL", tag="t2")
    assert lines[0] == b'* ESEARCH (TAG "t2") UID ALL 1:3'
    lines = r.cmd("SEARCH RETURN (COUNT) DELETED", tag="t3")
    assert lines[0] == b'* ESEARCH (TAG "t3") COUNT 0'
    lines = r.cmd("SEARCH MODSEQ 1")
    # The first CONDSTORE-enabling command announces HIGHESTMODSEQ.
    assert lines[0].startswith(b"* OK [HIGHESTMODSEQ ")
    assert lines[1].startswith(b"* SEARCH 1 2 3 (MODSEQ ")
    lines = r.cmd("SEARCH CHARSET UTF-8 TEXT {4+}\r\nnoon")
    assert lines[0] == b"* SEARCH 3"
    assert tagged(lines)[0] == "OK"


def test_address_keys_see_through_comments(eider):
    """RFC 5322 CFWS: comments inside or after an address do not hide
    the address or the name from FROM/TO/CC/BCC."""
    m = login(eider)
    ok(m.append("INBOX", None, None,
                b"From: <mia.sender (comment)@ (comment) post.example>\r\n"
                b"To: <otto.reader@post.example>\r\n\r\nbody3\r\n"))
    ok(m.append("INBOX", None, None,
                b"From: mia.sender@post.example (Mia Sender)\r\n"
                b"Bcc: hidden.copy@post.example (Hidden Copy)\r\n\r\nbody4\r\n"))
    ok(m.append("INBOX", None, None,
                b"From: Mia Sender <other@post.example>\r\nSubject: mia.sender@post.example\r\n\r\nx\r\n"))
    m.select("INBOX")
    assert nums(ok(m.search(None, "FROM", "mia.sender@post.example"))) == [1, 2]
    assert nums(ok(m.search(None, "FROM", "ia.sen"))) == [1, 2]
    assert nums(ok(m.search(None, "FROM", '"mia sender"'))) == [2, 3]
    assert nums(ok(m.search(None, "BCC", '"den cop"'))) == [2]
    assert nums(ok(m.search(None, "TO", "otto.reader@post.example"))) == [1]
    assert nums(ok(m.search(None, "HEADER", "FROM", '""'))) == [1, 2, 3]


def test_search_after_an_expunge_elsewhere(eider):
    """A message expunged by another session cannot match; the SEARCH that the client
    still sees it for says EXPUNGEISSUED and holds EXPUNGE back (RFC 3501 7.4.1)."""
    m = box(eider)
    other = raw_login(eider, create=False)
    assert tagged(other.cmd("SELECT INBOX"))[0] == "OK"
    other.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert tagged(other.cmd("EXPUNGE"))[0] == "OK"
    r = raw_login(eider, create=False)
    r.cmd("SELECT INBOX")
    other.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd("EXPUNGE")
    lines = r.cmd("SEARCH ALL")
    assert not any(l.endswith(b"EXPUNGE") for l in lines), lines
    assert b"* SEARCH 2" in lines, lines
    status, text = tagged(lines)
    assert status == "OK" and text.startswith("[EXPUNGEISSUED]"), lines
    # NOOP reports it; the next SEARCH is complete again.
    assert b"* 1 EXPUNGE" in r.cmd("NOOP")
    lines = r.cmd("SEARCH ALL")
    assert lines[-2:] == [b"* SEARCH 1", lines[-1]] and b"EXPUNGEISSUED" not in lines[-1]
    # UID SEARCH may report the expunge at once, before its answer.
    other.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd("EXPUNGE")
    lines = r.cmd("UID SEARCH ALL")
    assert lines[0] == b"* 1 EXPUNGE" and lines[1] == b"* SEARCH", lines
    assert b"EXPUNGEISSUED" not in lines[-1]
    r.close()
    other.close()
    m.logout()
