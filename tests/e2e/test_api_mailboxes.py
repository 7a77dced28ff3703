"""HTTP API, mailboxes: listing with counters, creating, resolving by path,
renaming, hiding, deleting (not INBOX nor special-use folders)."""

import base64

ZERO = "0" * 24
RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n"


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


def mailboxes(eider, uid, query=""):
    status, body = eider.api("GET", f"/users/{uid}/mailboxes{query}")
    assert status == 200, body
    return {m["path"]: m for m in body["results"]}


def test_default_mailboxes_and_counters(eider):
    uid = eider.create_user("alice")
    boxes = mailboxes(eider, uid)
    assert set(boxes) == {"INBOX", "Drafts", "Junk", "Sent Mail", "Trash"}
    inbox = boxes["INBOX"]
    assert inbox["specialUse"] is None and inbox["name"] == "INBOX" and inbox["subscribed"] is True
    assert boxes["Trash"]["specialUse"] == "\\Trash"
    assert inbox["total"] == 0 and inbox["unseen"] == 0 and "size" not in inbox
    eider.api("POST", f"/users/{uid}/mailboxes/{inbox['id']}/messages",
              {"raw": base64.b64encode(RAW).decode(), "unseen": True})
    eider.api("POST", f"/users/{uid}/mailboxes/{inbox['id']}/messages", {"raw": base64.b64encode(RAW).decode()})
    boxes = mailboxes(eider, uid, "?counters=true&sizes=true")
    assert boxes["INBOX"]["total"] == 2 and boxes["INBOX"]["unseen"] == 1
    assert boxes["INBOX"]["size"] == 2 * len(RAW)
    assert boxes["INBOX"]["modifyIndex"] > 0
    special = mailboxes(eider, uid, "?specialUse=true")
    assert set(special) == {"INBOX", "Drafts", "Junk", "Sent Mail", "Trash"}


def test_create_get_rename_hide_delete(eider):
    uid = eider.create_user("bob")
    status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Projects/Eider", "retention": 86400000})
    assert status == 200
    mid = body["id"]
    status, box = eider.api("GET", f"/users/{uid}/mailboxes/{mid}")
    assert status == 200 and box["success"]
    assert box["path"] == "Projects/Eider" and box["name"] == "Eider" and box["retention"] == 86400000
    assert eider.api("GET", f"/users/{uid}/mailboxes/resolve?path=Projects/Eider")[1]["id"] == mid
    assert eider.api("GET", f"/users/{uid}/mailboxes/resolve?path=inbox")[1]["path"] == "INBOX"
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/resolve?path=Nope"), 404, "NoSuchMailbox")
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/resolve"), 400, "InputValidationError")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Projects/Eider"}),
                 400, "MailboxExistsError")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes", {"path": "A//B"}), 400, "InputValidationError")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes", {}), 400, "InputValidationError")
    assert eider.api("PUT", f"/users/{uid}/mailboxes/{mid}", {"path": "Archive2/Eider", "subscribed": False}) == \
        (200, {"success": True})
    box = eider.api("GET", f"/users/{uid}/mailboxes/{mid}")[1]
    assert box["path"] == "Archive2/Eider" and box["subscribed"] is False
    assert eider.api("PUT", f"/users/{uid}/mailboxes/{mid}", {"hidden": True})[0] == 200
    assert "Archive2/Eider" not in mailboxes(eider, uid)
    assert "Archive2/Eider" in mailboxes(eider, uid, "?showHidden=true")
    assert eider.api("DELETE", f"/users/{uid}/mailboxes/{mid}") == (200, {"success": True})
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/{mid}"), 404, "NoSuchMailbox")
    assert_error(eider.api("DELETE", f"/users/{uid}/mailboxes/{mid}"), 404, "NoSuchMailbox")


def test_protected_mailboxes(eider):
    uid = eider.create_user("carol")
    boxes = mailboxes(eider, uid)
    assert_error(eider.api("DELETE", f"/users/{uid}/mailboxes/{boxes['Trash']['id']}"), 400,
                 "DisallowedMailboxMethod")
    assert_error(eider.api("DELETE", f"/users/{uid}/mailboxes/{boxes['INBOX']['id']}"), 400,
                 "DisallowedMailboxMethod")
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{boxes['INBOX']['id']}", {"path": "Other"}), 400,
                 "DisallowedMailboxMethod")
    assert "Trash" in mailboxes(eider, uid)


def test_other_users_mailboxes_are_not_found(eider):
    uid = eider.create_user("dave")
    other = eider.create_user("erin")
    theirs = mailboxes(eider, other)["INBOX"]["id"]
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/{theirs}"), 404, "NoSuchMailbox")
    assert_error(eider.api("PUT", f"/users/{uid}/mailboxes/{theirs}", {"subscribed": False}), 404, "NoSuchMailbox")
    assert_error(eider.api("DELETE", f"/users/{uid}/mailboxes/{theirs}"), 404, "NoSuchMailbox")
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/{theirs}/messages"), 404, "NoSuchMailbox")
    assert_error(eider.api("GET", f"/users/{ZERO}/mailboxes"), 404, "UserNotFound")
    assert_error(eider.api("GET", f"/users/{uid}/mailboxes/123"), 400, "InputValidationError")
