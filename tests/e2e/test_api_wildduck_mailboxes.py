"""HTTP API answers a WildDuck client relies on: mailboxes, messages and
delivery (issue #14). Each test names the WildDuck behaviour it pins."""

import pytest

SECRET = "root-secret-for-tests"


def assert_error(resp, status, code, error=None):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    if error is not None:
        assert body.get("error") == error, body
    return body


@pytest.fixture
def guarded(start_eider):
    return start_eider(extra_args=[
        "--set", "api.accessControl.enabled=true",
        "--set", f'api.accessControl.secret="{SECRET}"',
    ])


def _user(server, name, address):
    status, body = server.api("POST", "/users", {"username": name, "password": "pass-" + name,
                                                 "address": address}, token=SECRET)
    assert status == 200, body
    status, auth = server.api("POST", "/authenticate",
                              {"username": name, "password": "pass-" + name, "token": True}, token=SECRET)
    assert status == 200, auth
    return body["id"], auth["token"]


def test_user_token_lists_its_own_addresses_and_filters(guarded):
    alice, token = _user(guarded, "alice", "alice@example.com")
    bob, _ = _user(guarded, "bob", "bob@example.com")
    assert guarded.api("POST", f"/users/{alice}/addresses", {"address": "al@example.com"}, token=SECRET)[0] == 200
    status, body = guarded.api("POST", "/addresses/forwarded",
                               {"address": "fw@example.com", "targets": ["x@example.net"]}, token=SECRET)
    assert status == 200, body
    for who in (alice, bob):
        status, body = guarded.api("POST", f"/users/{who}/filters",
                                   {"query": {"from": "x"}, "action": {"seen": True}}, token=SECRET)
        assert status == 200, body

    # Root sees every address; alice's token only hers (WildDuck's readOwn 'addresslisting').
    status, body = guarded.api("GET", "/addresses", token=SECRET)
    assert status == 200 and body["total"] == 4, body
    status, body = guarded.api("GET", "/addresses?internalData=true", token=token)
    assert status == 200, body
    assert body["total"] == 2
    assert sorted(r["address"] for r in body["results"]) == ["al@example.com", "alice@example.com"]
    assert all(r["user"] == alice and "internalData" not in r for r in body["results"])
    status, body = guarded.api("GET", "/addresses?query=bob", token=token)
    assert (status, body["total"], body["results"]) == (200, 0, [])

    # /filters with a user token reaches the handler's own-only branch.
    status, body = guarded.api("GET", "/filters", token=token)
    assert status == 200, body
    assert [r["user"] for r in body["results"]] == [alice]
    status, body = guarded.api("GET", "/filters", token=SECRET)
    assert status == 200 and len(body["results"]) == 2, body

    # The rest of /addresses stays root-only.
    assert_error(guarded.api("GET", "/addresses/resolve/bob@example.com", token=token), 403, "MissingPrivileges")
    assert_error(guarded.api("POST", "/addresses/forwarded",
                             {"address": "f2@example.com", "targets": ["y@example.net"]}, token=token),
                 403, "MissingPrivileges")


def test_special_use_listing_includes_inbox(eider):
    uid = eider.create_user("carol")
    assert eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Projects"})[0] == 200
    status, body = eider.api("GET", f"/users/{uid}/mailboxes?specialUse=true")
    assert status == 200, body
    paths = [m["path"] for m in body["results"]]
    assert paths[0] == "INBOX"
    assert sorted(paths) == ["Drafts", "INBOX", "Junk", "Sent Mail", "Trash"]


def _inbox(eider, uid):
    status, body = eider.api("GET", f"/users/{uid}/mailboxes")
    assert status == 200, body
    return {m["path"]: m["id"] for m in body["results"]}


def test_mailbox_update_and_delete_failures_use_wildduck_texts(eider):
    uid = eider.create_user("dave")
    boxes = _inbox(eider, uid)
    missing = "0" * 24
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{missing}", {"path": "New"}),
                 404, "NoSuchMailbox", "Mailbox update failed with code NoSuchMailbox")
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{missing}", {"subscribed": False}),
                 404, "NoSuchMailbox", "Mailbox update failed with code NoSuchMailbox")
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{boxes['INBOX']}", {"path": "Renamed"}),
                 400, "DisallowedMailboxMethod", "Mailbox update failed with code DisallowedMailboxMethod")
    assert_error(eider.api("DELETE", f"/users/{uid}/mailboxes/{missing}"),
                 404, "NoSuchMailbox", "Mailbox deletion failed with code NoSuchMailbox")
    for path in ("INBOX", "Trash"):
        assert_error(eider.api("DELETE", f"/users/{uid}/mailboxes/{boxes[path]}"),
                     400, "DisallowedMailboxMethod", "Mailbox deletion failed with code DisallowedMailboxMethod")


def test_mailbox_path_validation_follows_wildduck(eider):
    uid = eider.create_user("erin")
    boxes = _inbox(eider, uid)
    create = lambda body: eider.api("POST", f"/users/{uid}/mailboxes", body)  # noqa: E731
    inverted = '"path" with value "{}" matches the inverted pattern: /\\/{{2,}}|\\/$/'
    for bad in ("Folder/", "//INBOX", "A//B"):
        body = assert_error(create({"path": bad}), 400, "InputValidationError", inverted.format(bad))
        assert "path" in body["details"]
    assert_error(create({"path": 123}), 400, "InputValidationError", '"path" must be a string')
    assert_error(create({"path": ""}), 400, "InputValidationError", '"path" is not allowed to be empty')
    # WildDuck's limits: 128 levels, 512 characters per level.
    deep = "/".join(["d"] * 128)
    assert create({"path": deep})[0] == 200
    assert_error(create({"path": deep + "/d"}), 400, "InputValidationError",
                 "The mailbox path cannot be more than 128 levels deep")
    assert create({"path": "ü" * 512})[0] == 200
    assert_error(create({"path": "ok/" + "ü" * 513}), 400, "InputValidationError",
                 "Any part of the mailbox path cannot be longer than 512 chars")
    # A leading "/" is dropped, as WildDuck's normalizeMailbox does.
    status, body = create({"path": "/Lead"})
    assert status == 200, body
    assert eider.api("GET", f"/users/{uid}/mailboxes/{body['id']}")[1]["path"] == "Lead"

    # PUT: the path is checked before the INBOX rule; numbers are refused; nothing is not a change.
    inbox = boxes["INBOX"]
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{inbox}", {"path": "X/"}),
                 400, "InputValidationError", inverted.format("X/"))
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{body['id']}", {"path": 42}),
                 400, "InputValidationError", '"path" must be a string')
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{body['id']}", {}),
                 400, "InputValidationError", "Nothing was changed")
    assert eider.api("GET", f"/users/{uid}/mailboxes/{body['id']}")[1]["path"] == "Lead"


def test_address_register_records_the_from_of_received_mail(eider):
    from lmtp_support import deliver, make_message, user

    uid = user(eider, "frank")
    msg = make_message(headers=()).replace(b"From: Sender <sender@example.org>",
                                           b"From: Joanna Writer <Joanna.W@Example.org>")
    rcpt, data = deliver(eider, ["frank@example.com"], msg)
    assert [c for c, _ in data] == [250], data
    status, body = eider.api("GET", f"/users/{uid}/addressregister?query=jo")
    assert status == 200, body
    assert [(e["name"], e["address"]) for e in body["results"]] == [("Joanna Writer", "Joanna.W@example.org")]
    # The recipients of received mail are not the user's correspondents.
    assert eider.api("GET", f"/users/{uid}/addressregister?query=someone")[1]["results"] == []


def test_lmtp_adds_delivered_to_per_recipient_and_shares_attachments(eider):
    import base64
    import os
    import sqlite3

    from lmtp_support import deliver, delivered, messages, user

    ids = {name: user(eider, name) for name in ("gina", "hank", "ivy")}
    payload = os.urandom(150_000)
    msg = (
        b"From: Sender <sender@example.org>\r\nTo: team@example.com\r\nSubject: shared\r\n"
        b"Message-ID: <shared-attachment@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="a.bin"\r\n\r\n'
        + base64.encodebytes(payload).replace(b"\n", b"\r\n") + b"--b--\r\n"
    )
    rcpts = [f"{name}@example.com" for name in ids]
    _, data = deliver(eider, rcpts, msg)
    assert [c for c, _ in data] == [250, 250, 250], data
    for name, uid in ids.items():
        assert messages(eider, uid, username=name) == [delivered(f"{name}@example.com", msg)]
    # Each copy has its own header bytes, yet the attachment is stored once.
    db = sqlite3.connect(f"file:{eider.data_dir / 'eider.sqlite3'}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT refcount FROM blobs WHERE length = ?", (len(payload),)).fetchall() == [(3,)]
    finally:
        db.close()


def test_uploaded_html_data_images_become_inline_attachments(eider):
    import base64
    import urllib.request

    uid = eider.create_user("jane")
    boxes = _inbox(eider, uid)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    html = f'<p>Logo: <img alt="logo" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>'
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages",
                             {"subject": "embedded", "html": html})
    assert status == 200, body
    base = f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{body['message']['id']}"
    status, msg = eider.api("GET", base)
    assert status == 200, msg
    (att,) = msg["attachments"]
    assert att["contentType"] == "image/png" and att["disposition"] == "inline"
    cid = att["cid"]
    assert cid
    # The parsed view keeps the image: src is the cid:, or the download with replaceCidLinks.
    shown = "".join(msg["html"])
    assert f'src="cid:{cid}"' in shown and "data:" not in shown, shown
    _, linked = eider.api("GET", base + "?replaceCidLinks=true")
    assert f'src="{base}/attachments/{att["id"]}"' in "".join(linked["html"])
    with urllib.request.urlopen(eider.api_url + f"{base}/attachments/{att['id']}", timeout=30) as resp:
        assert resp.read() == png
    status, eml = eider.api("GET", f"{base}/message.eml", raw=True)
    assert status == 200 and b"data:image" not in eml


def test_imap_shares_the_mailbox_path_rule(eider):
    from imaputil import login, ok

    m = login(eider)
    # RFC 3501 6.3.3: a trailing delimiter on CREATE names the mailbox without it.
    ok(m.create("Trail/"))
    assert any(line.endswith(b'"Trail"') for line in ok(m.list('""', "Trail")))
    # WildDuck's limits hold over IMAP too, with the same text.
    typ, data = m.create("/".join(["d"] * 129))
    assert typ == "NO" and b"cannot be more than 128 levels deep" in data[0], data
    ok(m.create("/".join(["d"] * 128)))
    typ, data = m.create("A//B")
    assert typ == "NO", data
