"""One part, one set of decoded bytes: a quoted-printable and a base64 attachment
(with soft breaks, transport padding, invalid escapes, stray junk and missing
padding) decode identically through the API's attachment download and IMAP
BINARY[], and match what the part's BODY[] decodes to by hand."""

import imaplib
import re
import urllib.request

from lmtp_support import deliver, user

# Quoted-printable with everything a lenient decoder must agree on.
QP_BODY = (
    b"caf=C3=A9 cr=C3=A8me=\r\n"      # escapes, soft break
    b"trailing spaces   \r\n"          # transport padding before CRLF is dropped
    b"tab\t=\r\n"                      # soft break after a tab
    b"keep=ZZ and = alone\r\n"        # invalid escapes stay literally
    b"lower =c3=a9\r\n"                # lower-case hex decodes
    b"end=\r\n"
)
QP_DECODED = "café crèmetrailing spaces\r\ntab\tkeep=ZZ and = alone\r\nlower é\r\nend".encode()

B64_BODY = b"aGVs\r\nbG8g\r\n d29y\tbG!Qh\r\nPw\r\n"  # whitespace, junk, no padding
B64_DECODED = b"hello world!?"

MESSAGE = (
    b"From: a@example.org\r\nTo: dec@example.com\r\nSubject: decoding\r\n"
    b"Message-ID: <decoding@example.org>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
    b"--BB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    b"--BB\r\nContent-Type: application/octet-stream; name=qp.bin\r\n"
    b"Content-Disposition: attachment; filename=qp.bin\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + QP_BODY +
    b"--BB\r\nContent-Type: application/octet-stream; name=b64.bin\r\n"
    b"Content-Disposition: attachment; filename=b64.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + B64_BODY +
    b"--BB--\r\n"
)


def api_download(eider, path):
    with urllib.request.urlopen(eider.api_url + path, timeout=30) as resp:
        return resp.read()


def imap_fetch(eider, item):
    imap = imaplib.IMAP4(*eider.hostport("IMAP"))
    imap.login("dec", "secret-pass")
    imap.select("INBOX")
    typ, data = imap.fetch("1", f"({item})")
    imap.logout()
    assert typ == "OK", data
    return data[0][1]


def test_a_part_decodes_to_the_same_bytes_through_every_route(eider):
    uid = user(eider, "dec")
    assert deliver(eider, ["dec@example.com"], MESSAGE)
    _, boxes = eider.api("GET", f"/users/{uid}/mailboxes")
    inbox = next(b["id"] for b in boxes["results"] if b["path"] == "INBOX")
    _, listing = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages")
    mid = listing["results"][0]["id"]
    _, msg = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages/{mid}")
    atts = {a["filename"]: a["id"] for a in msg["attachments"]}
    base = f"/users/{uid}/mailboxes/{inbox}/messages/{mid}/attachments/"

    for section, name, raw, decoded in [("2", "qp.bin", QP_BODY, QP_DECODED),
                                        ("3", "b64.bin", B64_BODY, B64_DECODED)]:
        # The CRLF before the next boundary belongs to the boundary, not the part.
        assert imap_fetch(eider, f"BODY.PEEK[{section}]") == raw[:-2]
        assert imap_fetch(eider, f"BINARY.PEEK[{section}]") == decoded, name
        assert api_download(eider, base + atts[name]) == decoded, name
        # The size the index computed agrees with the decoded bytes too.
        size = imap_fetch_size(eider, section)
        assert size == len(decoded), (name, size)


def imap_fetch_size(eider, section):
    imap = imaplib.IMAP4(*eider.hostport("IMAP"))
    imap.login("dec", "secret-pass")
    imap.select("INBOX")
    typ, data = imap.fetch("1", f"(BINARY.SIZE[{section}])")
    imap.logout()
    assert typ == "OK", data
    m = re.search(rb"BINARY\.SIZE\[" + section.encode() + rb"\] (\d+)", data[0])
    return int(m.group(1))
