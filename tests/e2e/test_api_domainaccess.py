"""Domain access lists: POST/GET /domainaccess/{tag}/allow|block and DELETE
/domainaccess/{id} through the real API, and what LMTP delivery does with them for
users carrying the tag: a blocked sender's mail lands in Junk, an allowed sender's
in INBOX despite the scanner's spam header."""

import uuid

from lmtp_support import deliver, messages, user
from test_api_access import SECRET, guarded, login, make_user  # noqa: F401


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


def listing(eider, tag, action):
    status, body = eider.api("GET", f"/domainaccess/{tag}/{action}")
    assert status == 200 and body["success"] is True, body
    return [(r["domain"], r["action"]) for r in body["results"]], body["results"]


def test_lists_per_tag_upsert_and_delete(eider):
    status, a = eider.api("POST", "/domainaccess/Newsletter/allow", {"domain": "Good.EXAMPLE"})
    assert status == 200 and a["success"] is True, a
    status, b = eider.api("POST", "/domainaccess/newsletter/allow", {"domain": "a.example"})
    assert status == 200
    status, c = eider.api("POST", "/domainaccess/newsletter/block", {"domain": "Someone@Bad.example"})
    assert status == 200
    assert listing(eider, "NEWSLETTER", "allow")[0] == [("a.example", "allow"), ("good.example", "allow")]
    assert listing(eider, "newsletter", "block")[0] == [("someone@bad.example", "block")]
    assert listing(eider, "other", "allow")[0] == []

    # The same tag (any case) and domain again: one listing, its action changed, its id kept.
    status, again = eider.api("POST", "/domainaccess/NEWSLETTER/block", {"domain": "good.example"})
    assert (status, again["id"]) == (200, a["id"])
    assert listing(eider, "newsletter", "allow")[0] == [("a.example", "allow")]
    assert [r["id"] for r in listing(eider, "newsletter", "block")[1]] == [a["id"], c["id"]]

    status, gone = eider.api("DELETE", f"/domainaccess/{b['id']}")
    assert (status, gone) == (200, {"success": True, "deleted": b["id"]})
    assert listing(eider, "newsletter", "allow")[0] == []
    assert_error(eider.api("DELETE", f"/domainaccess/{b['id']}"), 404, "DomainNotFound")
    assert_error(eider.api("DELETE", "/domainaccess/not-an-id"), 400, "InputValidationError")


def test_invalid_input(eider):
    body = assert_error(eider.api("POST", "/domainaccess/t/allow", {"domain": "not a domain"}),
                        400, "InputValidationError")
    assert "domain" in body["details"]
    assert_error(eider.api("POST", "/domainaccess/t/allow", {}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/domainaccess/t/block", {"domain": "x" * 256 + ".example"}),
                 400, "InputValidationError")
    assert_error(eider.api("POST", f"/domainaccess/{'t' * 129}/block", {"domain": "a.example"}),
                 400, "InputValidationError")


def test_root_only(guarded):
    make_user(guarded, "plainuser")
    token = login(guarded, "plainuser")
    for method, path, body in [
        ("POST", "/domainaccess/t/allow", {"domain": "a.example"}),
        ("GET", "/domainaccess/t/block", None),
        ("DELETE", "/domainaccess/" + "0" * 24, None),
    ]:
        assert_error(guarded.api(method, path, body, token=token), 403, "MissingPrivileges")
    status, _ = guarded.api("POST", "/domainaccess/t/allow", {"domain": "a.example"}, token=SECRET)
    assert status == 200


def message(sender, subject, spam=False):
    lines = [
        f"From: Sender <{sender}>",
        "To: someone@example.com",
        f"Subject: {subject}",
        f"Message-ID: <{uuid.uuid4().hex}@example.org>",
        "Date: Mon, 01 Jan 2024 10:00:00 +0000",
    ]
    if spam:
        lines.append("X-Spam-Flag: YES")
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()


def subjects(eider, uid, path):
    out = []
    for raw in messages(eider, uid, path):
        for line in raw.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].decode())
    return sorted(out)


def test_delivery_applies_the_lists_of_the_users_tags(eider):
    tagged = user(eider, "tagged", tags=["Staff", "VIP"])
    untagged = user(eider, "untagged")
    assert eider.api("POST", "/domainaccess/vip/block", {"domain": "spam.example"})[0] == 200
    assert eider.api("POST", "/domainaccess/VIP/allow", {"domain": "Friend@good.example"})[0] == 200
    assert eider.api("POST", "/domainaccess/other/allow", {"domain": "spam.example"})[0] == 200
    # An address listing is more specific than its domain's.
    assert eider.api("POST", "/domainaccess/staff/block", {"domain": "good.example"})[0] == 200

    cases = [
        ("x@spam.example", "blocked", False),
        ("friend@good.example", "allowed despite header", True),
        ("other@good.example", "domain blocked", False),
        ("x@elsewhere.example", "scanner says spam", True),
        ("x@elsewhere.example", "clean", False),
    ]
    for sender, subject, spam in cases:
        rcpts, data = deliver(eider, ["tagged@example.com", "untagged@example.com"],
                              message(sender, subject, spam))
        assert [c for c, _ in rcpts] == [250, 250]
        assert [c for c, _ in data] == [250, 250], data

    assert subjects(eider, tagged, "INBOX") == ["allowed despite header", "clean"]
    assert subjects(eider, tagged, "Junk") == ["blocked", "domain blocked", "scanner says spam"]
    # Lists apply only to users carrying the tag.
    assert subjects(eider, untagged, "INBOX") == ["blocked", "clean", "domain blocked"]
    assert subjects(eider, untagged, "Junk") == ["allowed despite header", "scanner says spam"]
