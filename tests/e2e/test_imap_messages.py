"""Message commands: APPEND (sync, LITERAL+, flags, date), FETCH (every item,
sections, partials, BINARY), STORE, COPY, MOVE, EXPUNGE, UID variants, CLOSE/UNSELECT."""

import imaplib
import re

import pytest

from imaputil import MULTIPART, SIMPLE, login, make_message, ok, raw_login, tagged


def setup_box(eider, messages=(SIMPLE,)):
    m = login(eider)
    for msg in messages:
        ok(m.append("INBOX", None, None, msg))
    m.select("INBOX")
    return m


def test_append_variants(eider):
    r = raw_login(eider)
    # Synchronizing literal with flags and internal date.
    r.send('a1 APPEND INBOX (\\Seen $Work) "07-Feb-1994 21:52:25 -0800" {%d}\r\n' % len(SIMPLE))
    assert r.readline().startswith(b"+ ")
    r.send(SIMPLE + b"\r\n")
    lines = r.until_tagged("a1")
    m = re.match(rb"a1 OK \[APPENDUID (\d+) 1\]", lines[-1])
    assert m, lines
    # LITERAL+: no continuation.
    r.send(b"a2 APPEND INBOX {%d+}\r\n" % len(MULTIPART) + MULTIPART + b"\r\n")
    lines = r.until_tagged("a2")
    assert re.match(rb"a2 OK \[APPENDUID \d+ 2\]", lines[-1]), lines
    lines = r.cmd("APPEND Nowhere {3+}\r\nabc")
    assert b" NO [TRYCREATE]" in lines[-1]
    lines = r.cmd("SELECT INBOX")
    assert b"* 2 EXISTS" in lines
    lines = r.cmd("FETCH 1 (FLAGS INTERNALDATE)")
    assert b'INTERNALDATE "08-Feb-1994 05:52:25 +0000"' in lines[0]
    assert b"\\Seen" in lines[0] and b"$Work" in lines[0]


def test_fetch_items(eider):
    m = setup_box(eider, [SIMPLE, MULTIPART])
    typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE ENVELOPE INTERNALDATE)")
    line = data[0]
    assert b"UID 1" in line and f"RFC822.SIZE {len(SIMPLE)}".encode() in line
    assert b'ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "Hello there" (("Bob Example" NIL "bob" "example.com"))' in line
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == SIMPLE
    typ, data = m.fetch("1", "(RFC822.HEADER)")
    assert data[0][1] == SIMPLE.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
    assert data[0][1] == SIMPLE.split(b"\r\n\r\n", 1)[1]
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject x-custom)])")
    assert data[0][1] == b"Subject: Hello there\r\nX-Custom: Special-Value\r\n\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject X-Custom Date Message-ID Cc)])")
    assert data[0][1] == b"From: Bob Example <bob@example.com>\r\nTo: Alice <alice@example.com>\r\n\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[]<0.4>)")
    assert data[0][0].endswith(b"BODY[]<0> {4}") and data[0][1] == b"From"
    typ, data = m.fetch("1", "(BODY.PEEK[]<100000.10>)")
    assert data[0][1] == b""
    typ, data = m.fetch("1", "(BODY.PEEK[1])")
    assert data[0][1] == SIMPLE.split(b"\r\n\r\n", 1)[1]
    typ, data = m.fetch("1", "(BODYSTRUCTURE BODY)")
    assert b'BODYSTRUCTURE ("TEXT" "PLAIN"' in data[0]
    assert b'BODY ("TEXT" "PLAIN"' in data[0]


def test_fetch_multipart_sections(eider):
    m = setup_box(eider, [MULTIPART])
    typ, data = m.fetch("1", "(BODY.PEEK[1])")
    assert data[0][1] == b"Caf=C3=A9 au lait, first part."
    typ, data = m.fetch("1", "(BODY.PEEK[1.MIME])")
    assert data[0][1].startswith(b"Content-Type: text/plain")
    assert data[0][1].endswith(b"\r\n\r\n")
    typ, data = m.fetch("1", "(BODY.PEEK[2])")
    assert data[0][1].strip() == b"AAECAwQFBgcICQ=="
    typ, data = m.fetch("1", "(BODY.PEEK[3.HEADER])")
    assert data[0][1] == b"From: inner@example.net\r\nSubject: Inner message\r\n\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[3.TEXT])")
    assert data[0][1] == b"Inner body."
    typ, data = m.fetch("1", "(BODY.PEEK[3.1])")
    assert data[0][1] == b"Inner body."
    typ, data = m.fetch("1", "(BODY.PEEK[9])")
    assert data[0][1] in (b"", None)
    typ, data = m.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[2])")
    joined = b"".join(p if isinstance(p, bytes) else p[0] + p[1] for p in data)
    assert "Café au lait, first part.".encode() in joined
    assert b"BINARY.SIZE[2] 10" in joined
    typ, data = m.fetch("1", "(BINARY.PEEK[2])")
    assert data[0][1] == bytes(range(10))
    assert data[0][0].endswith(b"~{10}")
    typ, data = m.fetch("1", "(BODYSTRUCTURE)")
    assert b'"MIXED"' in data[0] or b'"mixed"' in data[0]


def test_fetch_sets_seen_unless_peek(eider):
    m = setup_box(eider, [SIMPLE, SIMPLE])
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.fetch("1", "(BODY[TEXT])")
    joined = repr(data)
    assert "FLAGS (\\\\Seen" in joined or "\\\\Seen" in joined
    typ, data = m.fetch("2", "(RFC822)")
    assert data[0][1] == SIMPLE
    typ, data = m.fetch("1:2", "(FLAGS)")
    assert all(b"\\Seen" in d for d in data)


def test_fetch_macros_and_ranges(eider):
    m = setup_box(eider, [make_message(i) for i in range(5)])
    typ, data = m.fetch("1:*", "FAST")
    assert len(data) == 5 and b"RFC822.SIZE" in data[0]
    typ, data = m.fetch("2,4", "ALL")
    assert len(data) == 2 and b"ENVELOPE" in data[0]
    typ, data = m.fetch("1", "FULL")
    assert b"BODY (" in data[0]
    typ, data = m.uid("FETCH", "3:*", "(FLAGS)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"3", b"4", b"5"]
    typ, data = m.uid("FETCH", "100:*", "(FLAGS)")
    assert len(data) == 1 and b"UID 5" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("9", "(FLAGS)")


def test_store_flags(eider):
    m = setup_box(eider, [make_message(i) for i in range(3)])
    typ, data = m.store("1:2", "+FLAGS", "(\\Flagged $Todo)")
    assert typ == "OK" and len(data) == 2 and b"$Todo" in data[0]
    typ, data = m.store("1", "-FLAGS", "(\\Flagged)")
    assert b"\\Flagged" not in data[0] and b"$Todo" in data[0]
    typ, data = m.store("3", "FLAGS", "(\\Answered \\Draft)")
    assert b"\\Answered \\Draft" in data[0] or (b"\\Answered" in data[0] and b"\\Draft" in data[0])
    typ, data = m.store("1:3", "+FLAGS.SILENT", "(\\Seen)")
    assert data == [None]
    typ, data = m.fetch("1:3", "(FLAGS)")
    assert all(b"\\Seen" in d for d in data)
    typ, data = m.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    assert b"UID 2" in data[0] and b"\\Deleted" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        m.store("1", "+FLAGS", "(\\Bogus)")
    # New keywords are announced with FLAGS before they are used.
    r = raw_login(eider, create=False)
    r.cmd("SELECT INBOX")
    lines = r.cmd("STORE 1 +FLAGS (NewKeyword)")
    assert lines[0].startswith(b"* FLAGS (") and b"NewKeyword" in lines[0]
    assert b"PERMANENTFLAGS" in lines[1]


def test_copy_move_expunge(eider):
    m = setup_box(eider, [make_message(i) for i in range(5)])
    typ, data = m.copy("1:2", "Trash")
    assert typ == "OK"
    assert re.search(rb"\[COPYUID \d+ 1:2 1:2\]", data[0]), data
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    r = raw_login(eider, create=False)
    r.cmd("SELECT INBOX")
    lines = r.cmd("MOVE 2:3 Junk")
    assert re.match(rb"\* OK \[COPYUID \d+ 2:3 1:2\]", lines[0]), lines
    assert lines[1:3] == [b"* 2 EXPUNGE", b"* 2 EXPUNGE"]
    assert tagged(lines)[0] == "OK"
    lines = r.cmd("UID MOVE 5 Junk")
    assert lines[1] == b"* 3 EXPUNGE"
    # INBOX now has UIDs 1 and 4.
    lines = r.cmd("UID STORE 1,4 +FLAGS.SILENT (\\Deleted)")
    lines = r.cmd("UID EXPUNGE 4")
    assert lines[0] == b"* 2 EXPUNGE"
    lines = r.cmd("EXPUNGE")
    assert lines[0] == b"* 1 EXPUNGE"
    assert b"* 0 EXISTS" in r.cmd("SELECT INBOX")


def test_close_expunges_unselect_does_not(eider):
    m = setup_box(eider, [make_message(i) for i in range(3)])
    m.store("1", "+FLAGS", "(\\Deleted)")
    typ, _ = m._simple_command("UNSELECT")
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert data == [b"3"]
    m.store("1:2", "+FLAGS", "(\\Deleted)")
    ok(m.close())
    typ, data = m.select("INBOX")
    assert data == [b"1"]
    # EXAMINE + CLOSE expunges nothing.
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.select("INBOX", readonly=True)
    ok(m.close())
    typ, data = m.select("INBOX")
    assert data == [b"1"]


def test_large_message_streams(eider):
    big = b"Subject: big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    import base64, os
    payload = os.urandom(3 * 1024 * 1024)
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    msg = big + b64
    m = setup_box(eider, [msg])
    typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    assert data[0][1] == msg
    typ, data = m.fetch("1", "(BINARY.PEEK[1])")
    assert data[0][1] == payload
    typ, data = m.fetch("1", "(BODY.PEEK[]<1000000.100>)")
    assert data[0][1] == msg[1000000:1000100]


def test_move_within_the_mailbox(eider):
    m = setup_box(eider, [make_message(i) for i in range(2)])
    typ, data = m._simple_command("MOVE", "1", "INBOX")
    assert typ == "OK"
    typ, data = m.uid("SEARCH", "ALL")
    assert data[0].split() == [b"2", b"3"]


def test_binary_qp_drops_trailing_whitespace(eider):
    msg = (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"hello  \r\nsoft=\r\nbreak=3D\t \r\n")
    m = setup_box(eider, [msg])
    typ, data = m.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")
    assert data[0][1] == b"hello\r\nsoftbreak=\r\n"
    assert b"BINARY.SIZE[1] 19" in b"".join(p if isinstance(p, bytes) else p[0] for p in data)


def test_binary_append_with_nul_is_stored_base64(eider):
    """RFC 3516 4.4: a literal8 APPEND with NUL bytes is
    stored so that BODY[] never carries a NUL; BINARY[] gives back the octets."""
    r = raw_login(eider)
    content = b"bin\x00ary \xfe\x00\r\n\r\n"
    msg = (b"From: sender@post.example\r\nDate: Mon, 2 Nov 2026 08:15:00 +0100\r\n"
           b"Mime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n" + content)
    r.send(b"b1 APPEND INBOX ~{%d}\r\n" % len(msg))
    assert r.readline().startswith(b"+")
    r.send(msg + b"\r\n")
    assert tagged(r.until_tagged("b1"))[0] == "OK"
    assert tagged(r.cmd("SELECT INBOX"))[0] == "OK"
    lines = r.cmd("FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME])")
    body = b"\r\n".join(lines)
    assert b"\x00" not in body, body
    assert b"YmluAGFyeSD+AA0KDQo=" in body and b"base64" in body, body
    lines = r.cmd("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert tagged(lines)[0] == "OK"
    assert b"BINARY.SIZE[1] 14" in lines[0], lines
    assert lines[0].endswith(b"~{14}\r\n" + content + b")"), lines
    r.close()


def _with_attachment(i, size):
    """A message whose attachment is stored as a de-duplicated blob and re-encoded on read."""
    import base64

    payload = bytes((i * 7 + n * 13) % 251 for n in range(size))
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: file %d\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n'
        b"--b%d\r\nContent-Type: text/plain\r\n\r\nSee the file %d.\r\n"
        b"--b%d\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" % (i, i, i, i, i)
        + encoded
        + b"--b%d--\r\n" % i
    )


def test_fetch_bodies_of_many_messages(eider):
    """FETCH 1:* of whole bodies, parts and partials over messages small (read ahead
    in one store call each) and large (read piece by piece): every answer is byte-exact."""
    messages = [make_message(0), MULTIPART]
    messages += [_with_attachment(i, size) for i, size in enumerate([10, 3000, 70_000, 1_400_000, 200])]
    messages += [make_message(i) for i in range(1, 6)]
    m = setup_box(eider, messages)
    for items, expect in [
        ("BODY.PEEK[]", lambda raw: raw),
        ("BODY.PEEK[]<10.5000>", lambda raw: raw[10:5010]),
        ("BODY.PEEK[TEXT]", lambda raw: raw.split(b"\r\n\r\n", 1)[1]),
        ("RFC822.HEADER", lambda raw: raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"),
    ]:
        data = ok(m.fetch("1:*", f"({items})"))
        bodies = [d[1] for d in data if isinstance(d, tuple)]
        assert len(bodies) == len(messages), items
        for n, (got, raw) in enumerate(zip(bodies, messages), start=1):
            assert got == expect(raw), f"{items} of message {n}"
    # Two streamed items per message.
    data = ok(m.fetch("1:*", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT])"))
    parts = [d[1] for d in data if isinstance(d, tuple)]
    assert len(parts) == 2 * len(messages)
    for n, raw in enumerate(messages):
        head, text = raw.split(b"\r\n\r\n", 1)
        assert parts[2 * n] == head + b"\r\n\r\n" and parts[2 * n + 1] == text
    m.logout()
