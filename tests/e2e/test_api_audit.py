"""Audits: POST /audit, GET /audit/{audit}, GET /audit/{audit}/export.mbox —
every message of the user received in the window, across its mailboxes,
including mail delivered after the audit was created, as an mboxrd file that
Python's mailbox.mbox reads back with the original bytes."""

import base64
import datetime
import mailbox
import re

from lmtp_support import delivered, deliver, make_message, user
from test_api_access import SECRET, guarded, login, make_user  # noqa: F401


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mailbox_ids(eider, uid):
    status, body = eider.api("GET", f"/users/{uid}/mailboxes")
    assert status == 200
    return {m["path"]: m["id"] for m in body["results"]}


def upload(eider, uid, mbox, raw, date=None):
    body = {"raw": base64.b64encode(raw).decode()}
    if date:
        body["date"] = iso(date)
    status, res = eider.api("POST", f"/users/{uid}/mailboxes/{mbox}/messages", body)
    assert status == 200, res
    return res["message"]["id"]


def sources(eider, uid, mboxes):
    """Every stored message's exact bytes (message.eml), by Subject."""
    out = {}
    for mbox in mboxes:
        status, listing = eider.api("GET", f"/users/{uid}/mailboxes/{mbox}/messages?limit=250")
        assert status == 200
        for m in listing["results"]:
            status, raw = eider.api("GET", f"/users/{uid}/mailboxes/{mbox}/messages/{m['id']}/message.eml", raw=True)
            assert status == 200
            out[m["subject"]] = raw
    return out


def unquote_mboxrd(raw):
    """A reader's side of mboxrd: one '>' less on lines matching ^>+From ."""
    return re.sub(rb"(?m)^>(>*From )", rb"\1", raw)


def test_audit_exports_window_as_mboxrd(eider, tmp_path):
    uid = user(eider, "audited")
    ids = mailbox_ids(eider, uid)
    status, res = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Archive"})
    assert status == 200
    archive = res["id"]
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=1)
    end = now + datetime.timedelta(days=1)

    # Outside the window: received before start, or after end.
    upload(eider, uid, archive, make_message("too old"), date=now - datetime.timedelta(days=3))
    upload(eider, uid, ids["INBOX"], make_message("too new"), date=now + datetime.timedelta(days=3))
    # Inside, before the audit exists: over LMTP (INBOX) and uploaded (Archive).
    first = make_message("first", body="From the start\r\n>From quoted\r\nplain\r\n")
    deliver(eider, ["audited@example.com"], first)
    upload(eider, uid, archive, make_message("archived", body="kept\r\n"))

    status, res = eider.api("POST", "/audit", {"user": uid, "start": iso(start), "end": iso(end),
                                               "expires": iso(now + datetime.timedelta(days=7))})
    assert status == 200 and res["success"], res
    audit = res["id"]

    # Delivered after the audit was created: included while it lives.
    late = make_message("late", body="From here on\r\n>>From twice\r\nFrom\r\n")
    deliver(eider, ["audited@example.com"], late)

    status, info = eider.api("GET", f"/audit/{audit}")
    assert status == 200 and info["success"], info
    assert info["id"] == audit and info["user"] == uid
    assert info["start"] == iso(start) and info["end"] == iso(end)
    assert info["expires"] == iso(now + datetime.timedelta(days=7))
    assert info["import"] == {"status": "finished", "failed": 0, "copied": 3}

    status, raw = eider.api("GET", f"/audit/{audit}/export.mbox", raw=True)
    assert status == 200
    path = tmp_path / "export.mbox"
    path.write_bytes(raw)
    box = mailbox.mbox(str(path), create=False)
    got = {}
    for key in box.keys():
        data = unquote_mboxrd(box.get_bytes(key))
        subject = re.search(rb"(?m)^Subject: (.*)\r$", data).group(1).decode()
        got[subject] = data
    box.close()
    assert sorted(got) == ["archived", "first", "late"]

    stored = sources(eider, uid, [ids["INBOX"], archive])
    for subject in got:
        assert got[subject] == stored[subject], subject
    assert got["first"] == delivered("audited@example.com", first)
    assert got["late"] == delivered("audited@example.com", late)
    # The From lines are quoted in the file itself.
    assert b"\r\n>From the start\r\n>>From quoted\r\n" in raw
    assert b"\r\n>From here on\r\n>>>From twice\r\nFrom\r\n" in raw


def test_audit_open_window_and_errors(eider):
    uid = user(eider, "open")
    deliver(eider, ["open@example.com"], make_message("any"))
    expires = iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    status, res = eider.api("POST", "/audit", {"user": uid, "start": False, "end": "", "expires": expires})
    assert status == 200, res
    status, info = eider.api("GET", f"/audit/{res['id']}")
    assert info["start"] is False and info["end"] is False and info["import"]["copied"] == 1
    status, raw = eider.api("GET", f"/audit/{res['id']}/export.mbox", raw=True)
    assert status == 200 and raw.startswith(b"From MAILER-DAEMON ")

    status, body = eider.api("GET", "/audit/000000000000000000000000")
    assert status == 404 and body["code"] == "AuditNotFound"
    assert body["error"] == "Requested audit was not found"
    status, body = eider.api("GET", "/audit/000000000000000000000000/export.mbox")
    assert status == 404 and body["code"] == "AuditNotFound"
    status, body = eider.api("GET", "/audit/not-an-id")
    assert status == 400 and body["code"] == "InputValidationError"
    past = iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    status, body = eider.api("POST", "/audit", {"user": uid, "expires": past})
    assert status == 400 and body["code"] == "InputValidationError"
    status, body = eider.api("POST", "/audit", {"user": uid})
    assert status == 400 and body["code"] == "InputValidationError"
    status, body = eider.api("POST", "/audit", {"user": "000000000000000000000000", "expires": expires})
    assert status == 404 and body["code"] == "UserNotFound"


def test_audit_refuses_user_tokens(guarded):  # noqa: F811
    uid = make_user(guarded, "tokened")
    token = login(guarded, "tokened")
    expires = iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    status, _ = guarded.api("POST", "/audit", {"user": uid, "expires": expires}, token=token)
    assert status == 403
    status, res = guarded.api("POST", "/audit", {"user": uid, "expires": expires}, token=SECRET)
    assert status == 200
    for path in [f"/audit/{res['id']}", f"/audit/{res['id']}/export.mbox"]:
        status, _ = guarded.api("GET", path, token=token)
        assert status == 403, path
        assert guarded.api("GET", path, token=SECRET)[0] == 200
