"""Account export and import (POST /data/export, POST /data/import) in WildDuck's
data file format.

An export with messages from an embedded-store instance imports into a
MongoDB-backed one: every message reads back byte-identical over IMAP with its
flags, UID and internal date, and each mailbox keeps its UIDVALIDITY and UIDNEXT.
An export without messages roundtrips users, addresses, application passwords
(which still log in), filters and autoreplies. Bad files are refused with
WildDuck's `{error, code}` and report what was applied before the fault.

The MongoDB half needs EIDER_TEST_MONGO_URL and EIDER_TEST_REDIS_URL (scripts/test
starts both); without them it fails in CI and skips elsewhere."""

import base64
import imaplib
import json
import os
import re
import struct
import urllib.error
import urllib.request
import uuid

import pytest

from imaputil import PASSWORD, make_message

MAGIC = b"\x09\x06\x82"


def service(var):
    value = os.environ.get(var, "").strip()
    if not value:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{var} is not set: scripts/test starts the service and sets it")
        pytest.skip(f"{var} is not set (scripts/test sets it)")
    return value


def with_database(url, name):
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    hosts = rest.split("/", 1)[0]
    out = f"{scheme}://{hosts}/{name}"
    return out + ("?" + query if query else "")


def post_raw(server, path, data, content_type="application/octet-stream", token=None):
    headers = {"Content-Type": content_type}
    if token:
        headers["X-Access-Token"] = token
    req = urllib.request.Request(server.api_url + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def export(server, **body):
    status, data = post_raw(server, "/data/export", json.dumps(body).encode(), "application/json")
    assert status == 200, (status, data[:300])
    assert data.startswith(MAGIC), data[:20]
    assert b"Export failed" not in data[-300:], data[-300:]
    return data


def import_(server, data):
    status, body = post_raw(server, "/data/import", data)
    return status, json.loads(body)


def frames(data):
    """(type, raw msgpack bytes) of each frame after the magic."""
    out, pos = [], 3
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    assert pos == len(data)
    return out


ATTACHMENT = base64.b64encode(bytes(range(256)) * 40).decode()
# Odd but valid: 60-column base64 (the blob store re-encodes it exactly), a
# header folded with a tab, no final line end.
ODD = (
    "From: Odd <odd@example.com>\r\nTo: a@example.com\r\nSubject: folded\r\n\tsubject\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + "\r\n".join(ATTACHMENT[i : i + 60] for i in range(0, len(ATTACHMENT), 60))
    + "\r\n--b1--"
).encode()


def imap(server, user, password=PASSWORD):
    host, port = server.hostport("IMAP")
    c = imaplib.IMAP4(host, port)
    c.login(user, password)
    return c


def mailbox_state(server, user, mailbox, password=PASSWORD):
    """UIDVALIDITY, UIDNEXT and per UID: (flags, internal date, bytes)."""
    c = imap(server, user, password)
    try:
        typ, _ = c.select(f'"{mailbox}"', readonly=True)
        assert typ == "OK"
        validity = int(c.untagged_responses["UIDVALIDITY"][0])
        typ, st = c.status(f'"{mailbox}"', "(UIDNEXT)")
        uidnext = int(re.search(rb"UIDNEXT (\d+)", st[0]).group(1))
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK"
        msgs = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            uid = int(re.search(rb"UID (\d+)", head).group(1))
            # \Recent belongs to the session that first sees a message, not to it.
            flags = sorted(f for f in re.search(rb"FLAGS \(([^)]*)\)", head).group(1).split()
                           if f != rb"\Recent")
            idate = re.search(rb'INTERNALDATE "([^"]+)"', head).group(1)
            msgs[uid] = (flags, idate, body)
        return validity, uidnext, msgs
    finally:
        c.logout()


def append(server, user, mailbox, raw, flags="", date=None, password=PASSWORD):
    c = imap(server, user, password)
    try:
        typ, data = c.append(f'"{mailbox}"', flags, date, raw)
        assert typ == "OK", data
    finally:
        c.logout()


@pytest.fixture
def mongo_args():
    mongo = with_database(service("EIDER_TEST_MONGO_URL"), "eider_data_" + uuid.uuid4().hex)
    redis = service("EIDER_TEST_REDIS_URL")
    return [
        "--set", 'storage.backend="mongodb"',
        "--set", f'dbs.mongo="{mongo}"',
        "--set", f'dbs.redis="{redis}"',
    ]


def test_export_with_messages_moves_an_account_to_mongodb(start_eider, mongo_args):
    source = start_eider()
    uid = source.create_user("mover", address="mover@example.com")
    assert source.api("POST", f"/users/{uid}/mailboxes", {"path": "Work/Projects"})[0] == 200
    dates = ['"01-Feb-2020 10:11:12 +0000"', '"15-Mar-2021 23:59:59 +0200"']
    append(source, "mover", "INBOX", make_message(1, subject="first"), r"(\Seen)", dates[0])
    append(source, "mover", "INBOX", make_message(2, subject="gone"))
    append(source, "mover", "INBOX", ODD, r"(\Flagged $Label1)", dates[1])
    append(source, "mover", "INBOX", make_message(4, subject="last"), r"(\Answered \Seen)")
    append(source, "mover", "Work/Projects", ODD, r"(\Draft)")
    # A gap in the UIDs: UID 2 is expunged, so INBOX holds UIDs 1, 3, 4 and UIDNEXT 5.
    c = imap(source, "mover")
    c.select("INBOX")
    c.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
    c.expunge()
    c.logout()
    before = {m: mailbox_state(source, "mover", m) for m in ("INBOX", "Work/Projects")}
    assert sorted(before["INBOX"][2]) == [1, 3, 4]

    data = export(source, users=[uid], messages=True)
    target = start_eider(extra_args=mongo_args)
    status, res = import_(target, data)
    assert status == 200, res
    r = res["result"]
    # user, address, 6 mailboxes (5 defaults + Work/Projects), 4 messages
    assert r["failed"] == 0 and r["existing"] == 0, r
    assert r["imported"] == r["entries"] >= 1 + 1 + 6 + 4, r

    for mailbox, (validity, uidnext, msgs) in before.items():
        got = mailbox_state(target, "mover", mailbox)
        assert got[0] == validity, f"{mailbox}: UIDVALIDITY kept"
        assert got[1] == uidnext, f"{mailbox}: UIDNEXT kept"
        assert got[2].keys() == msgs.keys(), f"{mailbox}: UIDs kept"
        for u, (flags, idate, body) in msgs.items():
            assert got[2][u][2] == body, f"{mailbox} UID {u}: bytes identical"
            assert got[2][u][0] == flags, f"{mailbox} UID {u}: flags"
            assert got[2][u][1] == idate, f"{mailbox} UID {u}: internal date"
    assert before["INBOX"][2][3][2] == ODD

    # The quota counter follows the imported messages.
    _, src_user = source.api("GET", f"/users/{uid}")
    _, dst_user = target.api("GET", f"/users/{uid}")
    assert dst_user["limits"]["quota"]["used"] == src_user["limits"]["quota"]["used"] > 0

    # New mail after the move continues past the old UIDNEXT.
    append(target, "mover", "INBOX", make_message(9, subject="after"))
    assert max(mailbox_state(target, "mover", "INBOX")[2]) == before["INBOX"][1]

    # Importing the same file again changes nothing and says so.
    status, again = import_(target, data)
    assert status == 200
    assert again["result"]["imported"] == 0 and again["result"]["existing"] == r["entries"], again


def test_export_without_messages_roundtrips_the_account(start_eider):
    source = start_eider()
    uid = source.create_user("roundtrip", password="master password",
                             address="roundtrip@example.com", name="Round Trip",
                             tags=["moving"], quota=5 * 1024 * 1024)
    assert source.api("POST", f"/users/{uid}/addresses", {"address": "alias@example.org"})[0] == 200
    status, asp = source.api("POST", f"/users/{uid}/asps", {"description": "Phone", "scopes": ["imap"]})
    assert status == 200, asp
    status, mb = source.api("POST", f"/users/{uid}/mailboxes", {"path": "Lists"})
    assert status == 200
    status, flt = source.api("POST", f"/users/{uid}/filters", {
        "name": "lists", "query": {"from": "list@example.org"},
        "action": {"seen": True, "mailbox": mb["id"]}})
    assert status == 200, flt
    assert source.api("PUT", f"/users/{uid}/autoreply",
                      {"status": True, "subject": "Away", "text": "back monday"})[0] == 200
    other = source.create_user("untagged")
    append(source, "roundtrip", "INBOX", make_message(1), password="master password")

    # Tags choose the users; messages stay behind.
    data = export(source, tags=["Moving"])
    target = start_eider()
    status, res = import_(target, data)
    assert status == 200, res
    r = res["result"]
    # user, 2 addresses, 1 ASP, 6 mailboxes, 1 autoreply, 1 filter
    assert r == {"entries": 12, "imported": 12, "failed": 0, "existing": 0, "skipped": 0}, r
    assert target.api("GET", f"/users/{other}")[0] == 404

    _, u = target.api("GET", f"/users/{uid}")
    assert (u["username"], u["name"], u["address"], u["tags"]) == (
        "roundtrip", "Round Trip", "roundtrip@example.com", ["moving"])
    assert u["limits"]["quota"]["allowed"] == 5 * 1024 * 1024
    _, addrs = target.api("GET", f"/users/{uid}/addresses")
    assert sorted(a["address"] for a in addrs["results"]) == ["alias@example.org", "roundtrip@example.com"]
    _, asps = target.api("GET", f"/users/{uid}/asps")
    assert [(a["id"], a["description"]) for a in asps["results"]] == [(asp["id"], "Phone")]
    _, flts = target.api("GET", f"/users/{uid}/filters")
    assert [f["id"] for f in flts["results"]] == [flt["id"]]
    _, ar = target.api("GET", f"/users/{uid}/autoreply")
    assert (ar["status"], ar["subject"], ar["text"]) == (True, "Away", "back monday")
    _, mbs = target.api("GET", f"/users/{uid}/mailboxes")
    assert {m["id"] for m in mbs["results"]} >= {mb["id"]}
    assert all(m["total"] == 0 for m in mbs["results"])

    # The password hash and the application password came along: both log in.
    for password in ("master password", asp["password"]):
        c = imap(target, "roundtrip", password)
        c.logout()
    with pytest.raises(imaplib.IMAP4.error):
        imap(target, "roundtrip", "wrong password")
    # A WildDuck import starts mailboxes afresh: no UIDs were carried over.
    v, uidnext, msgs = mailbox_state(target, "roundtrip", "INBOX", "master password")
    assert (uidnext, msgs) == (1, {})


def test_bad_files_are_refused_with_wildducks_errors(eider):
    status, res = import_(eider, b'{"users": []}')
    assert (status, res["code"]) == (500, "INVALID_SEQUENCE"), res
    assert "result" not in res

    uid = eider.create_user("partial", address="partial@example.com")
    data = export(eider, users=[uid])
    fr = frames(data)
    # Another kind of file behind the right magic bytes.
    foreign = b"\x81\xa4type\xa3zip"
    bad = MAGIC + struct.pack("<I", len(foreign) + 2) + b"\x92\x01" + foreign
    status, res = import_(eider, bad)
    assert (status, res["code"], res["error"]) == (500, "INVALID_DATA", "Invalid data file"), res

    # Cut inside the last record: the records before it are reported, not hidden.
    cut = data[: len(data) - 5]
    status, res = import_(eider, cut)
    assert (status, res["code"]) == (500, "INVALID_SEQUENCE"), res
    assert res["result"]["entries"] == len(fr) - 2, res  # header and the cut record
    assert res["result"]["existing"] == len(fr) - 2, res

    # A record whose document is not one: counted as failed, the rest imported.
    junk = b"\x92\x02\x83\xa6client\xa5users\xaacollection\xa5users\xa5entry\xc4\x03abc"
    status, res = import_(eider, data + struct.pack("<I", len(junk)) + junk)
    assert status == 200, res
    assert res["result"]["failed"] == 1 and res["result"]["imported"] == 0, res

    # A file holding only the magic has no header.
    status, res = import_(eider, MAGIC)
    assert (status, res["code"]) == (500, "INVALID_DATA"), res

    # The export validates its input as WildDuck does.
    status, res = post_raw(eider, "/data/export", json.dumps({"users": ["nope"]}).encode(),
                           "application/json")
    assert status == 400 and json.loads(res)["code"] == "InputValidationError", res


def test_only_root_exports_and_imports(start_eider):
    secret = "data-root-secret-" + uuid.uuid4().hex
    server = start_eider(extra_args=[
        "--set", "api.accessControl.enabled=true",
        "--set", f'api.accessControl.secret="{secret}"',
    ])
    status, body = server.api("POST", "/users", {"username": "plain", "password": PASSWORD}, token=secret)
    assert status == 200, body
    status, auth = server.api("POST", "/authenticate",
                              {"username": "plain", "password": PASSWORD, "token": True}, token=secret)
    assert status == 200, auth
    for path, data, ctype in (("/data/export", b"{}", "application/json"),
                              ("/data/import", MAGIC, "application/octet-stream")):
        status, res = post_raw(server, path, data, ctype, token=auth["token"])
        assert (status, json.loads(res)["code"]) == (403, "MissingPrivileges"), res
        status, res = post_raw(server, path, data, ctype)
        assert status == 403, res
    status, res = post_raw(server, "/data/export", b"{}", "application/json", token=secret)
    assert status == 200 and res.startswith(MAGIC)
