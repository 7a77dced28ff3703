"""HTTP API, storage files (WildDuck's /users/{user}/storage): upload as base64
JSON or as the raw body, list with paging, download byte-exact with the content
type, delete, quota accounting and access by another user, through the real
binary."""

import base64
import json
import os
import re
import urllib.error
import urllib.request

import pytest

HEX24 = re.compile(r"^[0-9a-f]{24}$")
SECRET = "root-secret-for-tests"


def raw_request(server, method, path, data=None, headers=None):
    req = urllib.request.Request(server.api_url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def quota_used(server, uid, token=None):
    status, user = server.api("GET", f"/users/{uid}", token=token)
    assert status == 200, user
    return user["limits"]["quota"]["used"]


def test_upload_download_list_delete(eider):
    uid = eider.create_user("alice", address="alice@example.com")
    pdf = os.urandom(3000) + b"\x00\xff\r\n"
    status, body = eider.api("POST", f"/users/{uid}/storage", {
        "filename": "report.pdf", "encoding": "base64",
        "content": base64.b64encode(pdf).decode(), "cid": "rep@x"})
    assert status == 200 and body["success"] is True, body
    pdf_id = body["id"]
    assert HEX24.match(pdf_id)
    assert quota_used(eider, uid) == len(pdf)

    # A raw upload: the body is the file, the other fields in the query string.
    note = "héllo wörld\n".encode()
    status, _, payload = raw_request(eider, "POST", f"/users/{uid}/storage?filename=note.txt&contentType=text/plain;%20charset=utf-8",
                                     note, {"Content-Type": "application/octet-stream"})
    assert status == 200, payload
    note_id = json.loads(payload)["id"]
    # Plain JSON content (no encoding) is stored as its UTF-8 text.
    status, body = eider.api("POST", f"/users/{uid}/storage", {"content": "plain text"})
    assert status == 200, body
    plain_id = body["id"]
    assert quota_used(eider, uid) == len(pdf) + len(note) + len(b"plain text")

    status, headers, got = raw_request(eider, "GET", f"/users/{uid}/storage/{pdf_id}")
    assert status == 200 and got == pdf
    assert headers["content-type"] == "application/pdf"
    status, headers, got = raw_request(eider, "GET", f"/users/{uid}/storage/{note_id}")
    assert status == 200 and got == note and headers["content-type"] == "text/plain; charset=utf-8"
    status, headers, got = raw_request(eider, "GET", f"/users/{uid}/storage/{plain_id}")
    assert got == b"plain text" and headers["content-type"] == "application/octet-stream"

    status, listing = eider.api("GET", f"/users/{uid}/storage?limit=2")
    assert status == 200 and listing["success"] is True
    assert listing["total"] == 3 and listing["page"] == 1
    assert listing["previousCursor"] is False and isinstance(listing["nextCursor"], str)
    first = listing["results"]
    assert [f["id"] for f in first] == [pdf_id, note_id]
    assert first[0] == {"id": pdf_id, "filename": "report.pdf", "contentType": "application/pdf",
                        "cid": "rep@x", "size": len(pdf), "created": first[0]["created"]}
    status, rest = eider.api("GET", f"/users/{uid}/storage?limit=2&next={listing['nextCursor']}&page=2")
    assert [f["id"] for f in rest["results"]] == [plain_id]
    assert rest["results"][0]["filename"] is False
    assert rest["nextCursor"] is False and isinstance(rest["previousCursor"], str)
    status, found = eider.api("GET", f"/users/{uid}/storage?query=REPORT")
    assert [f["id"] for f in found["results"]] == [pdf_id] and found["total"] == 1

    status, body = eider.api("DELETE", f"/users/{uid}/storage/{pdf_id}")
    assert status == 200 and body == {"success": True}
    assert quota_used(eider, uid) == len(note) + len(b"plain text")
    status, body = eider.api("GET", f"/users/{uid}/storage/{pdf_id}")
    assert status == 404 and body["code"] == "FileNotFound", body
    status, body = eider.api("DELETE", f"/users/{uid}/storage/{pdf_id}")
    assert status == 404 and body["code"] == "FileNotFound", body
    assert eider.api("GET", f"/users/{uid}/storage")[1]["total"] == 2


def test_identical_files_share_one_blob_and_count_twice(eider):
    uid = eider.create_user("bob")
    data = base64.b64encode(os.urandom(5000)).decode()
    ids = [eider.api("POST", f"/users/{uid}/storage",
                     {"filename": f"f{i}.bin", "encoding": "base64", "content": data})[1]["id"] for i in range(2)]
    assert quota_used(eider, uid) == 10000
    eider.api("DELETE", f"/users/{uid}/storage/{ids[0]}")
    # The other file's bytes are still there: the shared blob lost one reference only.
    status, _, got = raw_request(eider, "GET", f"/users/{uid}/storage/{ids[1]}")
    assert status == 200 and got == base64.b64decode(data)
    assert quota_used(eider, uid) == 5000


def test_upload_validation_and_quota(eider):
    uid = eider.create_user("carol", quota=100)
    status, body = eider.api("POST", f"/users/{uid}/storage", {"filename": "x"})
    assert status == 400 and body["code"] == "InputValidationError", body
    status, body = eider.api("POST", f"/users/{uid}/storage", {"content": "!!!", "encoding": "base64"})
    assert status == 400 and body["code"] == "InputValidationError", body
    status, body = eider.api("POST", f"/users/{uid}/storage", {"content": "x", "encoding": "hex"})
    assert status == 400 and body["code"] == "InputValidationError", body
    status, body = eider.api("POST", f"/users/{uid}/storage", {"content": "y" * 101})
    assert status == 400 and body["code"] == "OverQuotaError", body
    assert quota_used(eider, uid) == 0
    status, body = eider.api("GET", f"/users/{uid}/storage/nothex")
    assert status == 400 and body["code"] == "InputValidationError", body
    status, body = eider.api("POST", "/users/0123456789abcdef01234567/storage", {"content": "z"})
    assert status == 404 and body["code"] == "UserNotFound", body


def test_deleting_the_user_deletes_its_files(eider):
    uid = eider.create_user("dave")
    fid = eider.api("POST", f"/users/{uid}/storage", {"content": "bye"})[1]["id"]
    assert eider.api("DELETE", f"/users/{uid}")[0] == 200
    status, body = eider.api("GET", f"/users/{uid}/storage/{fid}")
    assert status == 404


@pytest.fixture
def guarded(start_eider):
    return start_eider(extra_args=[
        "--set", "api.accessControl.enabled=true",
        "--set", f'api.accessControl.secret="{SECRET}"',
    ])


def test_user_tokens_reach_only_their_own_files(guarded):
    ids = {}
    tokens = {}
    for name in ("erin", "frank"):
        status, body = guarded.api("POST", "/users", {"username": name, "password": "pass-" + name}, token=SECRET)
        assert status == 200, body
        ids[name] = body["id"]
        status, body = guarded.api("POST", "/authenticate",
                                   {"username": name, "password": "pass-" + name, "token": True}, token=SECRET)
        tokens[name] = body["token"]
    erin, frank = ids["erin"], ids["frank"]
    status, body = guarded.api("POST", f"/users/{erin}/storage", {"content": "mine"}, token=tokens["erin"])
    assert status == 200, body
    fid = body["id"]
    assert guarded.api("GET", f"/users/{erin}/storage", token=tokens["erin"])[1]["total"] == 1
    # Frank's token cannot reach Erin's storage ...
    for method, path in (("GET", f"/users/{erin}/storage"), ("GET", f"/users/{erin}/storage/{fid}"),
                         ("DELETE", f"/users/{erin}/storage/{fid}")):
        status, body = guarded.api(method, path, token=tokens["frank"])
        assert status == 403, (method, path, status, body)
    status, body = guarded.api("POST", f"/users/{erin}/storage", {"content": "x"}, token=tokens["frank"])
    assert status == 403, body
    # ... nor the file under his own user.
    status, body = guarded.api("GET", f"/users/{frank}/storage/{fid}", token=tokens["frank"])
    assert status == 404 and body["code"] == "FileNotFound", body
    status, body = guarded.api("DELETE", f"/users/{frank}/storage/{fid}", token=tokens["frank"])
    assert status == 404
    assert guarded.api("GET", f"/users/{erin}/storage", token=tokens["erin"])[1]["total"] == 1


# ---------------------------------------------------------------------------
# `files: [id]` on message upload and submit


def _attachment_bytes(raw, filename):
    import email
    from email import policy
    msg = email.message_from_bytes(raw, policy=policy.default)
    for part in msg.iter_attachments():
        if part.get_filename() == filename:
            return part.get_content_type(), part.get_payload(decode=True)
    raise AssertionError(f"no attachment {filename!r} in {raw[:400]!r}")


def test_uploaded_message_attaches_storage_files(eider):
    uid = eider.create_user("gina", address="gina@example.com")
    pdf = os.urandom(2000)
    fid = eider.api("POST", f"/users/{uid}/storage", {
        "filename": "plan.pdf", "encoding": "base64", "content": base64.b64encode(pdf).decode()})[1]["id"]
    status, boxes = eider.api("GET", f"/users/{uid}/mailboxes")
    drafts = next(m["id"] for m in boxes["results"] if m.get("specialUse") == "\\Drafts")
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{drafts}/messages", {
        "to": [{"address": "x@example.org"}], "subject": "with file", "text": "see attached", "files": [fid]})
    assert status == 200, body
    status, raw = eider.api("GET", f"/users/{uid}/mailboxes/{drafts}/messages/{body['message']['id']}/message.eml",
                            raw=True)
    assert status == 200
    assert _attachment_bytes(raw, "plan.pdf") == ("application/pdf", pdf)
    # An unknown file id is refused, and nothing is stored.
    status, err = eider.api("POST", f"/users/{uid}/mailboxes/{drafts}/messages", {
        "subject": "x", "text": "y", "files": ["0123456789abcdef01234567"]})
    assert status == 404 and err["code"] == "FileNotFound", err


def test_submit_attaches_storage_files(start_eider):
    from lmtp_support import SmtpSink, relay_args, wait_for
    relay = SmtpSink()
    try:
        server = start_eider(extra_args=relay_args(relay))
        uid = server.create_user("hank", address="hank@example.com")
        data = b"col1,col2\r\n1,2\r\n"
        fid = server.api("POST", f"/users/{uid}/storage", {"filename": "t.csv", "content": data.decode()})[1]["id"]
        status, body = server.api("POST", f"/users/{uid}/submit", {
            "to": [{"address": "bob@example.org"}], "subject": "table", "text": "here", "files": [fid]})
        assert status == 200, body
        assert wait_for(lambda: len(relay.received) == 1)
        assert _attachment_bytes(relay.received[0][2], "t.csv") == ("text/csv", data)
    finally:
        relay.close()
