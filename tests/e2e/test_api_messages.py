"""HTTP API, messages: upload (raw and composed), listing with paging, the
parsed message, message.eml byte for byte, attachments, updates of one, many
or all messages, moves, deletes, and search."""

import base64
import json
import urllib.error
import urllib.request

ZERO = "0" * 24

PNG = bytes(range(256)) * 40  # 10 KiB of binary: large enough for the blob store

RAW_MIXED = (
    b"From: Bob Sender <bob@example.com>\r\n"
    b"To: Alice <alice@example.com>, carol@example.com\r\n"
    b"Cc: dave@example.com\r\n"
    b"Subject: =?UTF-8?B?SMOpbGxv?= report\r\n"
    b"Message-ID: <report-1@example.com>\r\n"
    b"References: <older@example.com>\r\n"
    b"List-ID: <list.example.com>\r\n"
    b"X-Custom: custom value\r\n"
    b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: multipart/alternative; boundary=\"b2\"\r\n"
    b"\r\n"
    b"--b2\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Quarterly numbers attached.\r\n"
    b"--b2\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p onclick=\"steal()\">Quarterly <b>numbers</b><script>alert(1)</script>"
    b"<img src=\"cid:logo@example.com\"><a href=\"javascript:evil()\">x</a></p>\r\n"
    b"--b2--\r\n"
    b"--b1\r\n"
    b"Content-Type: image/png; name=\"logo.png\"\r\n"
    b"Content-ID: <logo@example.com>\r\n"
    b"Content-Disposition: inline; filename=\"logo.png\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.encodebytes(PNG).replace(b"\n", b"\r\n")
    + b"--b1\r\n"
    b"Content-Type: text/csv; name=\"numbers.csv\"\r\n"
    b"Content-Disposition: attachment; filename=\"numbers.csv\"\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"q1,q2=2Cq3\r\n"
    b"--b1--\r\n"
)


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


def setup_user(eider, name="alice"):
    uid = eider.create_user(name, address=f"{name}@example.com", name=name.title())
    boxes = {m["path"]: m["id"] for m in eider.api("GET", f"/users/{uid}/mailboxes")[1]["results"]}
    return uid, boxes


def upload(eider, uid, mailbox, raw, **fields):
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{mailbox}/messages",
                             {"raw": base64.b64encode(raw).decode(), **fields})
    assert status == 200, body
    return body["message"]["id"]


def simple(subject, frm="bob@example.com", body="hello", extra=b""):
    return (f"From: {frm}\r\nTo: alice@example.com\r\nSubject: {subject}\r\n".encode()
            + extra + f"\r\n{body}\r\n".encode())


def raw_get(eider, path):
    req = urllib.request.Request(eider.api_url + path)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_upload_and_read_parsed(eider):
    uid, boxes = setup_user(eider)
    inbox = boxes["INBOX"]
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages",
                             {"raw": base64.b64encode(RAW_MIXED).decode(), "unseen": True, "flagged": True,
                              "metaData": {"source": "test"}})
    assert status == 200
    assert body["success"] and body["message"] == {"id": 1, "mailbox": inbox, "size": len(RAW_MIXED)}
    status, msg = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages/1")
    assert status == 200 and msg["success"]
    assert msg["id"] == 1 and msg["mailbox"] == inbox and msg["user"] == uid
    assert msg["subject"] == "Héllo report"
    assert msg["from"] == {"name": "Bob Sender", "address": "bob@example.com"}
    assert msg["to"] == [{"name": "Alice", "address": "alice@example.com"},
                         {"name": "", "address": "carol@example.com"}]
    assert msg["cc"] == [{"name": "", "address": "dave@example.com"}]
    assert msg["messageId"] == "<report-1@example.com>"
    assert msg["references"] == ["<older@example.com>"]
    assert msg["date"] == "2024-01-02T10:00:00.000Z"
    assert msg["seen"] is False and msg["flagged"] is True and msg["draft"] is False
    assert msg["size"] == len(RAW_MIXED)
    assert msg["contentType"] == {"value": "multipart/mixed", "params": {"boundary": "b1"}}
    assert msg["metaData"] == {"source": "test"}
    assert msg["list"]["id"]
    assert "Quarterly numbers attached." in msg["text"]
    html = "".join(msg["html"])
    assert "<b>numbers</b>" in html
    for bad in ("script", "onclick", "javascript"):
        assert bad not in html
    assert "envelope" in msg and len(msg["thread"]) == 24
    atts = {a["filename"]: a for a in msg["attachments"]}
    assert set(atts) == {"logo.png", "numbers.csv"}
    assert atts["logo.png"]["contentType"] == "image/png"
    assert atts["logo.png"]["sizeKb"] == 10
    assert atts["numbers.csv"]["transferEncoding"] == "quoted-printable"
    for a in msg["attachments"]:
        assert set(a) >= {"id", "filename", "contentType", "disposition", "transferEncoding", "related", "sizeKb"}
    # cid links become attachment downloads on request
    _, with_links = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages/1?replaceCidLinks=true")
    logo = atts["logo.png"]["id"]
    assert f"/users/{uid}/mailboxes/{inbox}/messages/1/attachments/{logo}" in "".join(with_links["html"])
    # markAsSeen
    _, seen = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages/1?markAsSeen=true")
    assert seen["seen"] is True


def test_message_source_is_byte_identical(eider):
    uid, boxes = setup_user(eider)
    inbox = boxes["INBOX"]
    odd = (b"From: x@example.com\nSubject: bare LF lines and 8bit \xe9\xff\n"
           b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
           + base64.encodebytes(PNG * 3) + b"trailing junk without newline")
    for raw in (RAW_MIXED, odd):
        mid = upload(eider, uid, inbox, raw)
        status, headers, body = raw_get(eider, f"/users/{uid}/mailboxes/{inbox}/messages/{mid}/message.eml")
        assert status == 200
        assert headers["content-type"] == "message/rfc822"
        assert body == raw


def test_upload_raw_body_and_errors(eider):
    uid, boxes = setup_user(eider)
    inbox = boxes["INBOX"]
    raw = simple("raw body upload")
    req = urllib.request.Request(eider.api_url + f"/users/{uid}/mailboxes/{inbox}/messages?unseen=true",
                                 data=raw, method="POST", headers={"Content-Type": "message/rfc822"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    assert body["success"] and body["message"]["size"] == len(raw)
    _, msg = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages/{body['message']['id']}")
    assert msg["subject"] == "raw body upload" and msg["seen"] is False
    # plain-text raw (not base64) is accepted as well
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages", {"raw": simple("text raw").decode()})
    assert status == 200
    req = urllib.request.Request(eider.api_url + f"/users/{uid}/mailboxes/{inbox}/messages",
                                 data=b"", method="POST", headers={"Content-Type": "message/rfc822"})
    try:
        urllib.request.urlopen(req, timeout=30)
        raise AssertionError("an empty message was accepted")
    except urllib.error.HTTPError as e:
        assert (e.code, json.loads(e.read())["code"]) == (400, "EmptyMessage")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{ZERO}/messages", {"raw": "U3ViamVjdDogeA0KDQp4"}),
                 404, "NoSuchMailbox")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages", {"raw": "x", "metaData": [1]}),
                 400, "InputValidationError")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages", {"raw": "x", "date": "whenever"}),
                 400, "InputValidationError")


def test_composed_upload_with_attachment(eider):
    uid, boxes = setup_user(eider)
    drafts = boxes["Drafts"]
    content = b"%PDF-1.4 binary \x00\x01\x02" * 300
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{drafts}/messages", {
        "to": [{"name": "Bob", "address": "bob@example.com"}],
        "bcc": [{"address": "secret@example.com"}],
        "subject": "Composed ✓",
        "text": "Plain body",
        "html": "<p>Html <i>body</i></p>",
        "headers": [{"key": "X-Mailer", "value": "eider-tests"}],
        "attachments": [{"filename": "doc.pdf", "contentType": "application/pdf",
                         "content": base64.b64encode(content).decode()}],
        "draft": True,
    })
    assert status == 200, body
    mid = body["message"]["id"]
    status, msg = eider.api("GET", f"/users/{uid}/mailboxes/{drafts}/messages/{mid}")
    assert msg["subject"] == "Composed ✓"
    assert msg["from"] == {"name": "Alice", "address": "alice@example.com"}
    assert msg["to"] == [{"name": "Bob", "address": "bob@example.com"}]
    assert msg["bcc"] == [{"name": "", "address": "secret@example.com"}]
    assert msg["draft"] is True
    assert "Plain body" in msg["text"] and "<i>body</i>" in "".join(msg["html"])
    (att,) = msg["attachments"]
    assert att["filename"] == "doc.pdf" and att["contentType"] == "application/pdf"
    status, headers, data = raw_get(eider, f"/users/{uid}/mailboxes/{drafts}/messages/{mid}/attachments/{att['id']}")
    assert status == 200 and data == content
    assert headers["content-type"] == "application/pdf"
    assert "doc.pdf" in headers["content-disposition"]
    status, _, eml = raw_get(eider, f"/users/{uid}/mailboxes/{drafts}/messages/{mid}/message.eml")
    assert b"X-Mailer: eider-tests" in eml
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{drafts}/messages",
                           {"subject": "x", "headers": [{"key": "X-A", "value": "a\r\nBcc: evil@example.com"}]}),
                 400, "InputValidationError")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{drafts}/messages",
                           {"subject": "x", "attachments": [{"content": "***not base64***"}]}),
                 400, "InputValidationError")


def test_attachment_downloads(eider):
    uid, boxes = setup_user(eider)
    inbox = boxes["INBOX"]
    mid = upload(eider, uid, inbox, RAW_MIXED)
    _, msg = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages/{mid}")
    atts = {a["filename"]: a["id"] for a in msg["attachments"]}
    base = f"/users/{uid}/mailboxes/{inbox}/messages/{mid}/attachments/"
    status, headers, data = raw_get(eider, base + atts["logo.png"])
    assert status == 200 and data == PNG and headers["content-type"] == "image/png"
    status, headers, data = raw_get(eider, base + atts["numbers.csv"])
    assert status == 200 and data == b"q1,q2,q3" and headers["content-type"].startswith("text/csv")
    status, _, data = raw_get(eider, base + "ATT99999")
    assert status == 404 and json.loads(data)["code"] == "AttachmentNotFound"
    status, _, data = raw_get(eider, f"/users/{uid}/mailboxes/{inbox}/messages/99/attachments/ATT00001")
    assert status == 404 and json.loads(data)["code"] == "MessageNotFound"


def test_listing_paging_order_and_filters(eider):
    uid, boxes = setup_user(eider)
    inbox = boxes["INBOX"]
    for i in range(1, 6):
        upload(eider, uid, inbox, simple(f"msg {i}", extra=b"X-Seq: %d\r\n" % i), unseen=(i % 2 == 1))
    status, page = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?limit=2")
    assert status == 200
    assert page["total"] == 5 and page["page"] == 1 and page["specialUse"] is None
    assert [m["id"] for m in page["results"]] == [5, 4]
    assert page["previousCursor"] is False
    _, page2 = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?limit=2&page=2&next={page['nextCursor']}")
    assert [m["id"] for m in page2["results"]] == [3, 2] and page2["page"] == 2
    _, page3 = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?limit=2&next={page2['nextCursor']}")
    assert [m["id"] for m in page3["results"]] == [1] and page3["nextCursor"] is False
    _, back = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?limit=2&previous={page3['previousCursor']}")
    assert [m["id"] for m in back["results"]] == [3, 2]
    _, asc = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?order=asc&limit=3")
    assert [m["id"] for m in asc["results"]] == [1, 2, 3]
    _, unseen = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?unseen=true")
    assert unseen["total"] == 3 and [m["id"] for m in unseen["results"]] == [5, 3, 1]
    item = page["results"][0]
    assert item["subject"] == "msg 5" and item["intro"] == "hello" and item["seen"] is False
    assert item["from"] == {"name": "", "address": "bob@example.com"}
    assert {"id", "mailbox", "thread", "to", "cc", "bcc", "messageId", "subject", "date", "idate", "intro",
            "attachments", "size", "seen", "deleted", "flagged", "draft", "answered", "forwarded",
            "references", "contentType"} <= set(item)
    _, with_headers = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?includeHeaders=X-Seq,subject&limit=1"
                                       "&metaData=true&threadCounters=true")
    first = with_headers["results"][0]
    assert first["headers"] == {"x-seq": "5", "subject": "msg 5"}
    assert first["metaData"] == {} and first["threadMessageCount"] == 1
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?order=sideways"), 400,
                 "InputValidationError")
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages?limit=1000"), 400,
                 "InputValidationError")


def test_updates_moves_and_deletes(eider):
    uid, boxes = setup_user(eider)
    inbox, trash = boxes["INBOX"], boxes["Trash"]
    for i in range(1, 6):
        upload(eider, uid, inbox, simple(f"m{i}"), unseen=True)
    base = f"/users/{uid}/mailboxes/{inbox}/messages"
    assert eider.api("PUT", f"{base}/1", {"seen": True, "flagged": True}) == (200, {"success": True, "updated": 1})
    _, m1 = eider.api("GET", f"{base}/1")
    assert m1["seen"] is True and m1["flagged"] is True
    assert eider.api("PUT", base, {"message": "2:4", "seen": True})[1] == {"success": True, "updated": 3}
    assert eider.api("PUT", base, {"message": "1,5", "draft": True, "deleted": True})[1]["updated"] == 2
    _, m5 = eider.api("GET", f"{base}/5")
    assert m5["draft"] is True and m5["deleted"] is True and m5["seen"] is False
    assert eider.api("PUT", base, {"message": "1:*", "flagged": False})[1]["updated"] == 5
    status, body = eider.api("PUT", f"{base}/2", {"metaData": {"k": 1}, "expires": "2099-01-01T00:00:00Z"})
    assert status == 200
    _, m2 = eider.api("GET", f"{base}/2")
    assert m2["metaData"] == {"k": 1} and m2["expires"].startswith("2099-01-01")
    eider.api("PUT", f"{base}/2", {"expires": False})
    assert "expires" not in eider.api("GET", f"{base}/2")[1]
    status, moved = eider.api("PUT", base, {"message": "3,4", "moveTo": trash})
    assert status == 200 and moved["mailbox"] == trash
    assert [pair[0] for pair in moved["id"]] == [3, 4]
    new_uid = moved["id"][0][1]
    assert eider.api("GET", f"/users/{uid}/mailboxes/{trash}/messages/{new_uid}")[1]["subject"] == "m3"
    assert_error(eider.api("GET", f"{base}/3"), 404, "MessageNotFound")
    assert_error(eider.api("PUT", base, {"message": "3", "seen": True}), 404, "MessageNotFound")
    assert_error(eider.api("PUT", base, {"seen": True}), 400, "InputValidationError")
    assert_error(eider.api("PUT", base, {"message": "a-b", "seen": True}), 400, "InputValidationError")
    assert_error(eider.api("PUT", base, {"message": "1", "moveTo": ZERO}), 404, "NoSuchMailbox")
    assert_error(eider.api("PUT", base, {"message": "1", "expires": "soon"}), 400, "InputValidationError")
    assert eider.api("DELETE", f"{base}/1") == (200, {"success": True})
    assert_error(eider.api("DELETE", f"{base}/1"), 404, "MessageNotFound")
    assert_error(eider.api("GET", f"{base}/abc"), 400, "InputValidationError")
    status, body = eider.api("DELETE", base)
    assert status == 200 and body == {"success": True, "deleted": 2, "errors": 0}
    assert eider.api("GET", base)[1]["total"] == 0


def test_other_users_messages(eider):
    uid, boxes = setup_user(eider, "alice")
    other, other_boxes = setup_user(eider, "bob")
    upload(eider, other, other_boxes["INBOX"], simple("private"))
    theirs = other_boxes["INBOX"]
    for method, path in (("GET", f"/users/{uid}/mailboxes/{theirs}/messages"),
                         ("GET", f"/users/{uid}/mailboxes/{theirs}/messages/1"),
                         ("GET", f"/users/{uid}/mailboxes/{theirs}/messages/1/message.eml"),
                         ("DELETE", f"/users/{uid}/mailboxes/{theirs}/messages/1")):
        status, body = eider.api(method, path)
        assert (status, body["code"]) == (404, "NoSuchMailbox"), path
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages",
                           {"message": "1", "moveTo": theirs}), 404, "NoSuchMailbox")
    assert eider.api("GET", f"/users/{uid}/search?query=private")[1]["total"] == 0


def test_search(eider):
    uid, boxes = setup_user(eider)
    inbox, junk, trash = boxes["INBOX"], boxes["Junk"], boxes["Trash"]
    upload(eider, uid, inbox, simple("Invoice March", frm="billing@shop.example", body="total due 42 EUR"))
    upload(eider, uid, inbox, simple("Lunch?", frm="friend@example.com", body="pizza today"), unseen=True)
    upload(eider, uid, inbox, RAW_MIXED, flagged=True)
    upload(eider, uid, junk, simple("Invoice spam", frm="spam@bad.example", body="cheap"))
    upload(eider, uid, trash, simple("Old invoice", frm="billing@shop.example", body="paid"))

    def subjects(query):
        status, body = eider.api("GET", f"/users/{uid}/search?{query}")
        assert status == 200, body
        return sorted(m["subject"] for m in body["results"])

    assert subjects("subject=invoice") == ["Invoice March", "Invoice spam", "Old invoice"]
    assert subjects("subject=invoice&searchable=true") == ["Invoice March"]
    assert subjects("from=shop.example") == ["Invoice March", "Old invoice"]
    assert subjects("to=dave@example.com") == ["Héllo report"]
    assert subjects("query=pizza") == ["Lunch?"]
    assert subjects("query=total%20due") == ["Invoice March"]
    assert subjects("unseen=true") == ["Lunch?"]
    assert subjects("flagged=true") == ["Héllo report"]
    assert subjects("attachments=true") == ["Héllo report"]
    assert subjects(f"mailbox={junk}") == ["Invoice spam"]
    assert subjects(f"mailbox={inbox}&id=2") == ["Lunch?"]
    assert subjects("minSize=5000") == ["Héllo report"]
    assert subjects("or.subject=lunch&or.from=spam") == ["Invoice spam", "Lunch?"]
    assert subjects("q=from:billing%20-paid") == ["Invoice March"]
    assert subjects("q=is:unseen") == ["Lunch?"]
    status, page = eider.api("GET", f"/users/{uid}/search?limit=2")
    assert page["total"] == 5 and len(page["results"]) == 2 and isinstance(page["nextCursor"], str)
    _, page2 = eider.api("GET", f"/users/{uid}/search?limit=2&next={page['nextCursor']}")
    assert not {(m["mailbox"], m["id"]) for m in page["results"]} & {(m["mailbox"], m["id"]) for m in page2["results"]}
    assert_error(eider.api("GET", f"/users/{uid}/search?mailbox=nothex"), 400, "InputValidationError")
    assert_error(eider.api("GET", f"/users/{uid}/search?datestart=someday"), 400, "InputValidationError")
    assert_error(eider.api("GET", f"/users/{uid}/search?mailbox={ZERO}"), 404, "NoSuchMailbox")
    assert_error(eider.api("GET", f"/users/{ZERO}/search"), 404, "UserNotFound")

    # search and apply
    status, body = eider.api("POST", f"/users/{uid}/search", {"subject": "invoice", "action": {"seen": False}})
    assert status == 200 and body["success"] and body["updated"] == 3 and len(body["scheduled"]) == 24
    assert subjects("unseen=true") == ["Invoice March", "Invoice spam", "Lunch?", "Old invoice"]
    status, body = eider.api("POST", f"/users/{uid}/search",
                             {"from": "spam@bad.example", "action": {"moveTo": trash}})
    assert status == 200
    assert subjects(f"mailbox={trash}") == ["Invoice spam", "Old invoice"]
    status, body = eider.api("POST", f"/users/{uid}/search", {"mailbox": trash, "action": {"delete": True}})
    assert status == 200 and body["updated"] == 2
    assert subjects(f"mailbox={trash}") == []
    assert_error(eider.api("POST", f"/users/{uid}/search", {"subject": "x"}), 400, "InputValidationError")
    assert_error(eider.api("POST", f"/users/{uid}/search", {"action": {}}), 400, "InputValidationError")


def test_quota_is_enforced_on_upload(eider):
    uid = eider.create_user("quota", quota=100)
    inbox = [m["id"] for m in eider.api("GET", f"/users/{uid}/mailboxes")[1]["results"] if m["path"] == "INBOX"][0]
    big = simple("big", body="x" * 500)
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages",
                           {"raw": base64.b64encode(big).decode()}), 400, "OverQuotaError")
    assert eider.api("GET", f"/users/{uid}")[1]["limits"]["quota"]["used"] == 0
