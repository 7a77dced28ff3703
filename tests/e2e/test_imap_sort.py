"""SORT (RFC 5256 with RFC 5957 DISPLAYFROM/DISPLAYTO), ESORT and PARTIAL (RFC
5267, 9394), THREAD=ORDEREDSUBJECT and THREAD=REFERENCES, SEARCHRES (RFC 5182) and
CONTEXT=SEARCH/SORT live updates (RFC 5267), on the embedded store and, when
EIDER_TEST_MONGO_URL is set, on MongoDB."""

import os
import re
import uuid

import pytest

from imaputil import PASSWORD, Raw, tagged

CAPS = [
    "SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
    "CONTEXT=SEARCH", "CONTEXT=SORT", "SEARCHRES", "PARTIAL", "ESEARCH",
]


def with_database(url, name):
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    hosts = rest.split("/", 1)[0]
    return f"{scheme}://{hosts}/{name}" + ("?" + query if query else "")


@pytest.fixture(params=["sqlite", "mongodb"])
def server(request, start_eider):
    if request.param == "sqlite":
        return start_eider()
    url = os.environ.get("EIDER_TEST_MONGO_URL", "").strip()
    if not url:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("EIDER_TEST_MONGO_URL is not set")
        pytest.skip("EIDER_TEST_MONGO_URL is not set (scripts/test sets it)")
    mongo = with_database(url, "eider_sort_" + uuid.uuid4().hex)
    return start_eider(extra_args=["--set", 'storage.backend="mongodb"', "--set", f'dbs.mongo="{mongo}"'])


def msg(subject, frm, to, date, cc=None, mid=None, refs=None, irt=None, body="x"):
    h = [f"From: {frm}", f"To: {to}", f"Subject: {subject}"]
    if date:
        h.append(f"Date: {date}")
    if cc:
        h.append(f"Cc: {cc}")
    if mid:
        h.append(f"Message-ID: <{mid}>")
    if refs:
        h.append("References: " + " ".join(f"<{r}>" for r in refs))
    if irt:
        h.append(f"In-Reply-To: <{irt}>")
    return ("\r\n".join(h) + "\r\n\r\n" + body + "\r\n").encode()


def append(r, mailbox, data, internal):
    r.send(f"a APPEND {mailbox} \"{internal}\" {{{len(data)}}}\r\n".encode())
    assert r.readline().startswith(b"+")
    r.send(data + b"\r\n")
    lines = r.until_tagged("a")
    assert tagged(lines)[0] == "OK", lines
    return lines


def untagged(lines, word):
    """The data after `* WORD ` of the first such line."""
    for line in lines:
        m = re.match(rb"\* " + word.encode() + rb"(?: (.*))?$", line, re.I)
        if m:
            return (m.group(1) or b"").decode()
    raise AssertionError(f"no {word} in {lines}")


def nums(lines, word="SORT"):
    text = untagged(lines, word)
    return [int(x) for x in text.split()] if text else []


def session(server, user="alice"):
    server.create_user(user, PASSWORD)
    host, port = server.hostport("IMAP")
    r = Raw(host, port)
    assert tagged(r.cmd(f"LOGIN {user} {PASSWORD}"))[0] == "OK"
    return r


# Five messages whose keys each order differently.
FIVE = [
    # subject, from, to, cc, date (Date:), internal date, body padding
    ("Re: banana", '"Zed" <mike@x.org>', "Carl <bob@x.org>", "zz@x.org", "Mon, 3 Jan 2022 10:00:00 +0000", "05-Jan-2022 10:00:00 +0000", 50),
    ("apple", "Anna <zoe@x.org>", "dan@x.org", "aa@x.org", "Sat, 1 Jan 2022 10:00:00 +0000", "03-Jan-2022 10:00:00 +0000", 10),
    ("[list] Cherry (fwd)", "bea@x.org", '"Yves" <al@x.org>', None, None, "01-Jan-2022 09:00:00 +0000", 300),
    ("Fwd: Apple", '"" <carl@x.org>', "Eve <eve@x.org>", "mm@x.org", "Sun, 2 Jan 2022 23:00:00 -0500", "02-Jan-2022 10:00:00 +0000", 200),
    ("banana", "Bob <bob@x.org>", "Ann <ann@x.org>", "bb@x.org", "Wed, 5 Jan 2022 10:00:00 +0000", "04-Jan-2022 10:00:00 +0000", 100),
]


def five(server):
    r = session(server)
    for subj, frm, to, cc, date, internal, pad in FIVE:
        append(r, "INBOX", msg(subj, frm, to, date, cc=cc, body="p" * pad), internal)
    assert tagged(r.cmd("SELECT INBOX"))[0] == "OK"
    return r


def test_capabilities_are_advertised(server):
    r = session(server)
    caps = untagged(r.cmd("CAPABILITY"), "CAPABILITY").split()
    for c in CAPS:
        assert c in caps, c


def test_sort_every_key(server):
    r = five(server)
    sort = lambda prog, crit="ALL": nums(r.cmd(f"SORT ({prog}) UTF-8 {crit}"))
    assert sort("ARRIVAL") == [3, 4, 2, 5, 1]
    assert sort("REVERSE ARRIVAL") == [1, 5, 2, 4, 3]
    # Sent dates: 3 has no Date: (its internal date, 1 Jan 09:00), 4 is 3 Jan 04:00 UTC.
    assert sort("DATE") == [3, 2, 4, 1, 5]
    assert sort("REVERSE DATE") == [5, 1, 4, 2, 3]
    assert sort("SIZE") == [2, 1, 5, 4, 3]
    # FROM/TO/CC compare the first address's mailbox (local part).
    assert sort("FROM") == [3, 5, 4, 1, 2]
    assert sort("TO") == [3, 5, 1, 2, 4]
    # A message without Cc sorts first (empty string).
    assert sort("CC") == [3, 2, 5, 4, 1]
    # Base subjects: banana, apple, Cherry, Apple, banana (case-insensitive).
    assert sort("SUBJECT") == [2, 4, 1, 5, 3]
    assert sort("SUBJECT REVERSE SIZE") == [4, 2, 5, 1, 3]
    assert sort("REVERSE SUBJECT") == [3, 1, 5, 2, 4]
    # RFC 5957: display name, else the address; an empty name counts as absent.
    assert sort("DISPLAYFROM") == [2, 3, 5, 4, 1]
    assert sort("DISPLAYTO") == [5, 1, 2, 4, 3]
    assert sort("REVERSE DISPLAYTO") == [3, 4, 2, 1, 5]
    # The search program filters first.
    assert sort("SIZE", "LARGER 200") == [5, 4, 3]
    assert sort("ARRIVAL", "SUBJECT apple") == [4, 2]


def test_uid_sort_and_errors(server):
    r = five(server)
    assert tagged(r.cmd("STORE 3 +FLAGS (\\Deleted)"))[0] == "OK"
    assert tagged(r.cmd("EXPUNGE"))[0] == "OK"
    # UIDs 1,2,4,5 remain as sequence numbers 1..4.
    assert nums(r.cmd("UID SORT (SIZE) US-ASCII ALL")) == [2, 1, 5, 4]
    assert nums(r.cmd("SORT (SIZE) US-ASCII ALL")) == [2, 1, 4, 3]
    lines = r.cmd("SORT (SIZE) KOI8-R ALL")
    assert tagged(lines)[0] == "NO" and "BADCHARSET" in tagged(lines)[1]
    assert tagged(r.cmd("SORT (NOSUCHKEY) UTF-8 ALL"))[0] == "BAD"
    assert tagged(r.cmd("SORT (REVERSE) UTF-8 ALL"))[0] == "BAD"
    assert tagged(r.cmd("SORT SIZE UTF-8 ALL"))[0] == "BAD"
    assert tagged(r.cmd("SORT (SIZE) ALL"))[0] == "BAD"
    assert tagged(r.cmd("THREAD FOO UTF-8 ALL"))[0] == "BAD"
    assert tagged(r.cmd("UNSELECT"))[0] == "OK"
    assert tagged(r.cmd("SORT (SIZE) UTF-8 ALL"))[0] == "BAD"


def test_esort_and_partial(server):
    r = five(server)
    lines = r.cmd("SORT RETURN (MIN MAX COUNT ALL) (SIZE) UTF-8 ALL", tag="e1")
    # MIN and MAX name the first and last of the sorted result (RFC 5267 3.1).
    assert untagged(lines, "ESEARCH") == '(TAG "e1") MIN 2 MAX 3 COUNT 5 ALL 2,1,5,4,3'
    lines = r.cmd("UID SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL", tag="e2")
    assert untagged(lines, "ESEARCH") == '(TAG "e2") UID ALL 3:4,2,5,1'
    lines = r.cmd("SORT RETURN (PARTIAL 2:4) (REVERSE ARRIVAL) UTF-8 ALL", tag="e3")
    assert untagged(lines, "ESEARCH") == '(TAG "e3") PARTIAL (2:4 5,2,4)'
    lines = r.cmd("SORT RETURN (PARTIAL -1:-2) (ARRIVAL) UTF-8 ALL", tag="e4")
    assert untagged(lines, "ESEARCH") == '(TAG "e4") PARTIAL (-1:-2 5,1)'
    lines = r.cmd("SEARCH RETURN (PARTIAL 4:2) ALL", tag="e5")
    assert untagged(lines, "ESEARCH") == '(TAG "e5") PARTIAL (2:4 2:4)'
    lines = r.cmd("SEARCH RETURN (PARTIAL 6:9) ALL", tag="e6")
    assert untagged(lines, "ESEARCH") == '(TAG "e6") PARTIAL (6:9 NIL)'
    lines = r.cmd("UID SEARCH RETURN (PARTIAL -1:-1) ALL", tag="e7")
    assert untagged(lines, "ESEARCH") == '(TAG "e7") UID PARTIAL (-1:-1 5)'
    for bad in ["PARTIAL 1", "PARTIAL 1:*", "PARTIAL -1:2", "PARTIAL 0:2"]:
        assert tagged(r.cmd(f"SEARCH RETURN ({bad}) ALL"))[0] == "BAD", bad
    # RFC 9394: PARTIAL as a FETCH modifier pages through the messages a set names.
    lines = r.cmd("UID FETCH 1:* (FLAGS) (PARTIAL -1:-2)")
    assert re.findall(rb"UID (\d+)", b" ".join(lines)) == [b"4", b"5"], lines
    lines = r.cmd("FETCH 2:5 (UID) (PARTIAL 2:3)")
    assert re.findall(rb"^\* (\d+) FETCH", b"\n".join(lines), re.M) == [b"3", b"4"], lines
    assert tagged(r.cmd("FETCH 1:* (UID) (PARTIAL 1:*)"))[0] == "BAD"


def test_thread_references_and_orderedsubject(server):
    r = session(server)
    box = [
        msg("Party", "a@x", "b@x", "Mon, 1 Jan 2024 10:00:00 +0000", mid="p1"),
        msg("Re: Party", "b@x", "a@x", "Mon, 1 Jan 2024 11:00:00 +0000", mid="p2", refs=["p1"]),
        msg("Unrelated", "c@x", "a@x", "Mon, 1 Jan 2024 09:00:00 +0000", mid="u1"),
        msg("Re: Party", "c@x", "a@x", "Mon, 1 Jan 2024 12:00:00 +0000", mid="p3", refs=["p1", "p2"]),
        msg("Re: Party", "d@x", "a@x", "Mon, 1 Jan 2024 10:30:00 +0000", mid="p4", irt="p1"),
        # Two replies to a message that is not in the mailbox: a dummy parent.
        msg("Lost one", "e@x", "a@x", "Mon, 1 Jan 2024 13:00:00 +0000", mid="l1", refs=["gone"]),
        msg("Lost two", "f@x", "a@x", "Mon, 1 Jan 2024 14:00:00 +0000", mid="l2", refs=["gone"]),
        # No references, but the same base subject as the party thread: joined to it.
        msg("Re: party", "g@x", "a@x", "Mon, 1 Jan 2024 15:00:00 +0000", mid="p5"),
    ]
    for i, m in enumerate(box):
        append(r, "INBOX", m, f"0{i + 1}-Feb-2024 10:00:00 +0000")
    assert tagged(r.cmd("SELECT INBOX"))[0] == "OK"
    lines = r.cmd("THREAD REFERENCES UTF-8 ALL")
    assert untagged(lines, "THREAD") == "(3)(1 (5)(2 4)(8))((6)(7))"
    lines = r.cmd("UID THREAD REFERENCES UTF-8 ALL")
    assert untagged(lines, "THREAD") == "(3)(1 (5)(2 4)(8))((6)(7))"
    lines = r.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL")
    # Grouped by base subject, each thread's messages by date under its first.
    assert untagged(lines, "THREAD") == "(3)(1 (5)(2)(4)(8))(6)(7)"
    lines = r.cmd("THREAD REFERENCES UTF-8 FROM c@x")
    assert untagged(lines, "THREAD") == "(3)(4)"
    lines = r.cmd("THREAD REFERENCES UTF-8 SUBJECT nothing-matches")
    assert untagged(lines, "THREAD") == ""


def test_searchres_saves_and_reuses(server):
    r = five(server)
    lines = r.cmd("SEARCH RETURN (SAVE) LARGER 200", tag="s1")
    # SAVE alone: no ESEARCH (RFC 5182 2.1).
    assert not [l for l in lines if l.startswith(b"* ESEARCH") or l.startswith(b"* SEARCH")]
    lines = r.cmd("FETCH $ (UID)")
    assert sorted(re.findall(rb"\* (\d+) FETCH", b"\n".join(lines))) == [b"3", b"4", b"5"]
    assert nums(r.cmd("SEARCH $ SMALLER 350"), "SEARCH") == [4, 5]
    assert nums(r.cmd("UID SEARCH UID $"), "SEARCH") == [3, 4, 5]
    assert nums(r.cmd("SEARCH NOT $"), "SEARCH") == [1, 2]
    # SORT can save too; STORE on $ then acts on what it saved.
    lines = r.cmd("SORT RETURN (SAVE MIN) (SIZE) UTF-8 SMALLER 200", tag="s2")
    assert untagged(lines, "ESEARCH") == '(TAG "s2") MIN 2'
    assert tagged(r.cmd("STORE $ +FLAGS.SILENT (\\Flagged)"))[0] == "OK"
    assert nums(r.cmd("SEARCH FLAGGED"), "SEARCH") == [1, 2]
    # Expunged messages leave the saved result.
    assert tagged(r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))[0] == "OK"
    assert tagged(r.cmd("EXPUNGE"))[0] == "OK"
    assert nums(r.cmd("SEARCH $"), "SEARCH") == [1]
    # A failed SAVE search empties it.
    assert tagged(r.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL"))[0] == "NO"
    assert nums(r.cmd("SEARCH $"), "SEARCH") == []


def test_context_search_updates_live(server):
    r = five(server)
    lines = r.cmd("SEARCH RETURN (UPDATE ALL) FLAGGED", tag="ctx")
    assert untagged(lines, "ESEARCH") == '(TAG "ctx")'
    lines = r.cmd("STORE 2,4 +FLAGS (\\Flagged)")
    assert b'* ESEARCH (TAG "ctx") ADDTO (0 2,4)' in lines, lines
    lines = r.cmd("STORE 2 -FLAGS (\\Flagged)")
    assert b'* ESEARCH (TAG "ctx") REMOVEFROM (0 2)' in lines, lines
    # A change made by another session reaches this one at its next command.
    host, port = server.hostport("IMAP")
    other = Raw(host, port)
    assert tagged(other.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"
    assert tagged(other.cmd("SELECT INBOX"))[0] == "OK"
    assert tagged(other.cmd("STORE 5 +FLAGS (\\Flagged)"))[0] == "OK"
    lines = r.cmd("NOOP")
    assert b'* ESEARCH (TAG "ctx") ADDTO (0 5)' in lines, lines
    # An expunged member leaves before its EXPUNGE is sent.
    assert tagged(other.cmd("STORE 4 +FLAGS.SILENT (\\Deleted)"))[0] == "OK"
    assert tagged(other.cmd("EXPUNGE"))[0] == "OK"
    lines = r.cmd("NOOP")
    removal = lines.index(b'* ESEARCH (TAG "ctx") REMOVEFROM (0 4)')
    assert removal < lines.index(b"* 4 EXPUNGE"), lines
    # CANCELUPDATE stops it.
    assert tagged(r.cmd('CANCELUPDATE "ctx"'))[0] == "OK"
    lines = r.cmd("STORE 1 +FLAGS (\\Flagged)")
    assert not [l for l in lines if l.startswith(b"* ESEARCH")], lines
    other.close()


def test_context_sort_updates_positions(server):
    r = five(server)
    lines = r.cmd("UID SORT RETURN (UPDATE ALL) (SIZE) UTF-8 UNFLAGGED", tag="cs")
    assert untagged(lines, "ESEARCH") == '(TAG "cs") UID ALL 2,1,5,4,3'
    lines = r.cmd("UID STORE 5 +FLAGS (\\Flagged)")
    # UID 5 was third in size order.
    assert b'* ESEARCH (TAG "cs") UID REMOVEFROM (3 5)' in lines, lines
    lines = append(r, "INBOX", msg("tiny", "a@x", "b@x", None, body=""), "06-Jan-2022 10:00:00 +0000")
    lines += r.cmd("NOOP")
    # The new message (UID 6) is the smallest: position 1.
    assert b'* ESEARCH (TAG "cs") UID ADDTO (1 6)' in lines, lines
