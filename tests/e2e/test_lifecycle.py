"""The mail lifecycle through the real server: deleted messages go to the archive
(API DELETE, IMAP EXPUNGE, POP3 deletions end in Trash and are archived when deleted
there), are listed and restored (one, or a time range as a background task), and
purged by the background job when their time is up; users deleted with
`deleteAfter` cannot log in or receive mail, can be restored with the addresses
still free, and are purged by the job after their time."""

import base64
import imaplib
import time
import uuid
from datetime import datetime, timedelta, timezone

from imaputil import PASSWORD
from lmtp_support import connect, deliver, make_message, transaction, wait_for
from pop3_util import RawPop3


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def mailboxes(eider, uid):
    status, body = eider.api("GET", f"/users/{uid}/mailboxes")
    assert status == 200, body
    return {m["path"]: m["id"] for m in body["results"]}


def upload(eider, uid, mailbox, raw, **fields):
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{mailbox}/messages",
                             {"raw": base64.b64encode(raw).decode(), **fields})
    assert status == 200, body
    return body["message"]["id"]


def message(subject, body="Hello.\r\n"):
    return (f"From: Sender <sender@example.org>\r\nTo: someone@example.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n"
            f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\n{body}").encode()


def archived(eider, uid, query=""):
    status, body = eider.api("GET", f"/users/{uid}/archived/messages{query}")
    assert status == 200, body
    return body


def used(eider, uid):
    status, body = eider.api("GET", f"/users/{uid}")
    assert status == 200, body
    return body["limits"]["quota"]["used"]


def test_api_delete_archives_and_restore_brings_it_back(eider):
    uid = eider.create_user("arch1", address="arch1@example.com")
    boxes = mailboxes(eider, uid)
    raw = message("Keep me")
    mid = upload(eider, uid, boxes["INBOX"], raw)
    assert used(eider, uid) == len(raw)
    status, body = eider.api("DELETE", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{mid}")
    assert status == 200 and body["success"], body
    assert used(eider, uid) == 0, "archived messages count against no quota"

    listing = archived(eider, uid)
    assert listing["success"] and listing["total"] == 1 and listing["page"] == 1
    assert listing["previousCursor"] is False and listing["nextCursor"] is False
    (item,) = listing["results"]
    assert item["subject"] == "Keep me" and item["mailbox"] == boxes["INBOX"]
    assert item["from"]["address"] == "sender@example.org" and item["size"] == len(raw)
    for field in ("thread", "to", "cc", "bcc", "messageId", "date", "intro", "attachments",
                  "seen", "deleted", "flagged", "draft", "answered", "references", "contentType"):
        assert field in item, field

    status, body = eider.api("POST", f"/users/{uid}/archived/messages/{item['id']}/restore", {})
    assert status == 200 and body["success"], body
    assert body["mailbox"] == boxes["INBOX"] and body["id"] > mid
    status, eml = eider.api("GET", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{body['id']}/message.eml",
                            raw=True)
    assert status == 200 and eml == raw
    assert used(eider, uid) == len(raw), "a restored message counts again"
    assert archived(eider, uid)["total"] == 0

    # A second restore of the same entry, and an unknown user, answer as WildDuck does.
    status, body = eider.api("POST", f"/users/{uid}/archived/messages/{item['id']}/restore", {})
    assert (status, body["code"], body["error"]) == (404, "MessageNotFound", "This message does not exist")
    status, body = eider.api("GET", f"/users/{'0' * 24}/archived/messages")
    assert (status, body["code"]) == (404, "UserNotFound")


def test_restore_to_a_given_mailbox_or_inbox_when_its_mailbox_is_gone(eider):
    uid = eider.create_user("arch2", address="arch2@example.com")
    status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Work"})
    assert status == 200, body
    work = body["id"]
    status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Other"})
    assert status == 200, body
    boxes = mailboxes(eider, uid)
    first = upload(eider, uid, work, message("One"))
    second = upload(eider, uid, work, message("Two"))
    draft = upload(eider, uid, boxes["Drafts"], message("Draft"), draft=True)
    for box, m in ((work, first), (work, second), (boxes["Drafts"], draft)):
        status, body = eider.api("DELETE", f"/users/{uid}/mailboxes/{box}/messages/{m}")
        assert status == 200, body
    listing = archived(eider, uid)
    assert [r["subject"] for r in listing["results"]] == ["Two", "One"], "drafts are not archived"
    by_subject = {r["subject"]: r["id"] for r in listing["results"]}

    status, body = eider.api("POST", f"/users/{uid}/archived/messages/{by_subject['One']}/restore",
                             {"mailbox": boxes["Other"]})
    assert status == 200 and body["mailbox"] == boxes["Other"], body

    status, body = eider.api("DELETE", f"/users/{uid}/mailboxes/{work}")
    assert status == 200, body
    status, body = eider.api("POST", f"/users/{uid}/archived/messages/{by_subject['Two']}/restore", {})
    assert status == 200 and body["mailbox"] == boxes["INBOX"], body

    status, body = eider.api("POST", f"/users/{uid}/archived/messages/{by_subject['Two']}/restore",
                             {"mailbox": "0" * 24})
    assert status == 404


def test_archive_pages_with_cursors(eider):
    uid = eider.create_user("arch3", address="arch3@example.com")
    inbox = mailboxes(eider, uid)["INBOX"]
    for n in range(5):
        m = upload(eider, uid, inbox, message(f"M{n}"))
        eider.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/{m}")
    page1 = archived(eider, uid, "?limit=2")
    assert page1["total"] == 5 and [r["subject"] for r in page1["results"]] == ["M4", "M3"]
    page2 = archived(eider, uid, f"?limit=2&next={page1['nextCursor']}&page=2")
    assert [r["subject"] for r in page2["results"]] == ["M2", "M1"] and page2["page"] == 2
    back = archived(eider, uid, f"?limit=2&previous={page2['previousCursor']}")
    assert [r["subject"] for r in back["results"]] == ["M4", "M3"]
    asc = archived(eider, uid, "?limit=2&order=asc")
    assert [r["subject"] for r in asc["results"]] == ["M0", "M1"]


def test_imap_expunge_then_restore_and_read_again(eider):
    uid = eider.create_user("arch4", address="arch4@example.com")
    raw = message("Over IMAP", "Read me again.\r\n")
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port)
    imap.login("arch4", PASSWORD)
    assert imap.append("INBOX", None, None, raw)[0] == "OK"
    imap.select("INBOX")
    imap.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = imap.expunge()
    assert typ == "OK" and data == [b"1"]
    assert imap.select("INBOX")[1] == [b"0"]

    (item,) = archived(eider, uid)["results"]
    status, body = eider.api("POST", f"/users/{uid}/archived/messages/{item['id']}/restore", {})
    assert status == 200, body
    typ, data = imap.select("INBOX")
    assert data == [b"1"]
    typ, data = imap.uid("FETCH", str(body["id"]), "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == raw
    imap.logout()


def test_pop3_deletions_go_to_trash_and_are_archived_when_deleted_there(eider):
    uid = eider.create_user("arch5", address="arch5@example.com")
    boxes = mailboxes(eider, uid)
    raw = message("Via POP3")
    upload(eider, uid, boxes["INBOX"], raw)
    pop = RawPop3(eider.hostport("POP3"))
    pop.login("arch5")
    assert pop.cmd("DELE 1").startswith(b"+OK")
    assert pop.cmd("QUIT").startswith(b"+OK")
    pop.close()
    status, body = eider.api("GET", f"/users/{uid}/mailboxes/{boxes['Trash']}/messages")
    assert status == 200 and body["total"] == 1, body
    assert archived(eider, uid)["total"] == 0, "POP3 DELE moves to Trash (WildDuck)"
    status, body = eider.api("DELETE", f"/users/{uid}/mailboxes/{boxes['Trash']}/messages/{body['results'][0]['id']}")
    assert status == 200, body
    (item,) = archived(eider, uid)["results"]
    assert item["mailbox"] == boxes["Trash"] and item["subject"] == "Via POP3"


def test_range_restore_runs_as_a_task(eider):
    uid = eider.create_user("arch6", address="arch6@example.com")
    inbox = mailboxes(eider, uid)["INBOX"]
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    for n in range(3):
        m = upload(eider, uid, inbox, message(f"R{n}"))
        eider.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/{m}")
    end = datetime.now(timezone.utc) + timedelta(seconds=5)
    status, body = eider.api("POST", f"/users/{uid}/archived/restore", {"start": iso(start), "end": iso(end)})
    assert status == 200 and body["success"] and len(body["task"]) == 24, body
    assert wait_for(lambda: archived(eider, uid)["total"] == 0)
    status, body = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages")
    assert sorted(r["subject"] for r in body["results"]) == ["R0", "R1", "R2"]
    status, body = eider.api("POST", f"/users/{uid}/archived/restore", {"start": iso(start)})
    assert status == 400 and body["code"] == "InputValidationError"


def test_archive_is_purged_by_the_job(start_eider):
    server = start_eider(extra_args=["--set", "archive.time=1500", "--set", "jobs.interval=200"])
    uid = server.create_user("purge1", address="purge1@example.com")
    inbox = mailboxes(server, uid)["INBOX"]
    m = upload(server, uid, inbox, message("Short-lived"))
    server.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/{m}")
    assert archived(server, uid)["total"] == 1
    assert wait_for(lambda: archived(server, uid)["total"] == 0, timeout=20), "purged after archive.time"


def test_no_archive_when_the_time_is_zero(start_eider):
    server = start_eider(extra_args=["--set", "archive.time=0"])
    uid = server.create_user("noarch", address="noarch@example.com")
    inbox = mailboxes(server, uid)["INBOX"]
    m = upload(server, uid, inbox, message("Gone"))
    server.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/{m}")
    assert archived(server, uid)["total"] == 0


def test_archive_time_is_a_runtime_setting(eider):
    """`const:archive:time` (POST /settings) overrides `[archive] time` without a restart:
    0 stops archiving, and the setting shows the configured default until then."""
    status, body = eider.api("GET", "/settings/const:archive:time")
    assert status == 200 and body["value"] == 25 * 24 * 3600 * 1000, body
    uid = eider.create_user("archset", address="archset@example.com")
    inbox = mailboxes(eider, uid)["INBOX"]
    first = upload(eider, uid, inbox, message("Kept"))
    eider.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/{first}")
    assert archived(eider, uid)["total"] == 1
    status, body = eider.api("POST", "/settings/const:archive:time", {"value": 0})
    assert status == 200, body
    try:
        second = upload(eider, uid, inbox, message("Not kept"))
        eider.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/{second}")
        assert archived(eider, uid)["total"] == 1, "no archive once the setting is 0"
    finally:
        eider.api("POST", "/settings/const:archive:time", {"value": 25 * 24 * 3600 * 1000})


def login_fails(eider, username, password=PASSWORD):
    status, body = eider.api("POST", "/authenticate", {"username": username, "password": password})
    return status, body.get("code")


def test_deferred_user_deletion_and_restore(eider):
    uid = eider.create_user("gone1", address="gone1@example.com")
    status, body = eider.api("POST", f"/users/{uid}/addresses", {"address": "gone1-extra@example.com"})
    assert status == 200, body
    inbox = mailboxes(eider, uid)["INBOX"]
    raw = message("Before deletion")
    upload(eider, uid, inbox, raw)
    after = datetime.now(timezone.utc) + timedelta(days=2)
    status, body = eider.api("DELETE", f"/users/{uid}?deleteAfter={iso(after)}")
    assert status == 200, body
    assert body["success"] and body["code"] == "TaskScheduled" and body["user"] == uid
    assert body["addresses"] == {"deleted": 2} and body["deleteAfter"].startswith(iso(after)[:19])
    assert len(body["task"]) == 24

    # Answers as for a user that does not exist.
    status, body = eider.api("GET", f"/users/{uid}")
    assert (status, body["code"], body["error"]) == (404, "UserNotFound", "This user does not exist")
    assert login_fails(eider, "gone1") == login_fails(eider, "nobody-at-all")
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port)
    try:
        imap.login("gone1", PASSWORD)
        raise AssertionError("a deleted user logged in")
    except imaplib.IMAP4.error:
        pass
    imap.logout()
    client = connect(eider)
    rcpt, _ = transaction(client, "sender@example.org", ["gone1@example.com"], make_message())
    client.quit()
    assert rcpt[0][0] == 550, rcpt

    status, info = eider.api("GET", f"/users/{uid}/restore")
    assert status == 200, info
    assert info["success"] and info["user"] == uid and info["username"] == "gone1"
    assert info["storageUsed"] == len(raw) and info["tags"] == [] and info["deleted"]
    assert sorted(info["recoverableAddresses"]) == ["gone1-extra@example.com", "gone1@example.com"]

    # The username and an address are free meanwhile: someone takes the address.
    other = eider.create_user("other1", address="gone1-extra@example.com")
    status, info = eider.api("GET", f"/users/{uid}/restore")
    assert info["recoverableAddresses"] == ["gone1@example.com"]

    status, body = eider.api("POST", f"/users/{uid}/restore", {})
    assert status == 200, body
    assert body["success"] and body["code"] == "TaskCancelled" and body["user"] == uid
    assert body["addresses"]["recovered"] == 1 and body["addresses"]["main"] == "gone1@example.com"
    assert body["addresses"]["lost"] == ["gone1-extra@example.com"]
    status, user = eider.api("GET", f"/users/{uid}")
    assert status == 200 and user["address"] == "gone1@example.com"
    status, body = eider.api("POST", "/authenticate", {"username": "gone1", "password": PASSWORD})
    assert status == 200 and body["success"], body
    deliver(eider, ["gone1@example.com"], make_message(subject="After restore"))
    status, body = eider.api("GET", f"/users/{uid}/mailboxes/{inbox}/messages")
    assert sorted(r["subject"] for r in body["results"]) == ["After restore", "Before deletion"]
    status, body = eider.api("GET", f"/users/{other}/addresses")
    assert [a["address"] for a in body["results"]] == ["gone1-extra@example.com"]

    # Nothing to restore any more: WildDuck's codes (POST answers 500, GET 404).
    status, body = eider.api("POST", f"/users/{uid}/restore", {})
    assert (status, body["code"]) == (500, "AccountFound"), body
    status, body = eider.api("GET", f"/users/{uid}/restore")
    assert (status, body["code"], body["error"]) == (404, "AccountNotFound", "Deleted account was not found")


def test_restore_refused_when_the_username_was_taken(eider):
    uid = eider.create_user("gone2", address="gone2@example.com")
    after = datetime.now(timezone.utc) + timedelta(days=1)
    status, body = eider.api("DELETE", f"/users/{uid}?deleteAfter={iso(after)}")
    assert status == 200, body
    eider.create_user("gone2", address="gone2-new@example.com")
    status, body = eider.api("POST", f"/users/{uid}/restore", {})
    assert (status, body["code"]) == (500, "AccountFound"), body


def test_delete_without_delete_after_is_immediate(eider):
    uid = eider.create_user("gone3", address="gone3@example.com")
    status, body = eider.api("DELETE", f"/users/{uid}")
    assert status == 200 and body["code"] == "TaskScheduled" and body["addresses"] == {"deleted": 1}, body
    status, body = eider.api("GET", f"/users/{uid}/restore")
    assert (status, body["code"]) == (404, "AccountNotFound")


def test_deleted_user_is_purged_by_the_job(start_eider):
    server = start_eider(extra_args=["--set", "jobs.interval=200"])
    uid = server.create_user("gone4", address="gone4@example.com")
    inbox = mailboxes(server, uid)["INBOX"]
    upload(server, uid, inbox, message("Purged with its user"))
    after = datetime.now(timezone.utc) + timedelta(seconds=2)
    status, body = server.api("DELETE", f"/users/{uid}?deleteAfter={iso(after)}")
    assert status == 200, body
    assert server.api("GET", f"/users/{uid}/restore")[0] == 200
    assert wait_for(lambda: server.api("GET", f"/users/{uid}/restore")[0] == 404, timeout=20)
    # Purged for good: the username is free and a new account starts empty.
    new = server.create_user("gone4", address="gone4@example.com")
    assert new != uid
