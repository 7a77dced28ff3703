"""HTTP API, sending: POST /users/{user}/submit, submitting a stored draft,
forwarding a stored message (queued, then delivered by the outbound queue to an
SMTP sink standing in for the relay),
the address register they feed, and the `forward` filter of user and address
listings paging in the store."""

import base64
import imaplib

import pytest

from lmtp_support import SmtpSink, mailbox_ids, messages, relay_args, user, wait_for

ZERO = "0" * 24
SECRET = "root-secret-for-register-tests"

ORIGINAL = (
    b"From: Someone <someone@example.org>\r\n"
    b"To: Alice <alice@example.com>\r\n"
    b"Subject: Keep my bytes\r\n"
    b"Message-ID: <keep-bytes@example.org>\r\n"
    b"X-Odd:   spacing  kept \r\n"
    b"\r\n"
    b"..a line starting with a dot\r\n"
    b".\r\n"
    b"last line\r\n"
)


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


@pytest.fixture
def relay():
    sink = SmtpSink()
    yield sink
    sink.close()


@pytest.fixture
def relayed(start_eider, relay):
    return start_eider(extra_args=relay_args(relay))


def received(relay, n=1):
    """The sink's messages once it has `n` (the queue delivers in the background)."""
    assert wait_for(lambda: len(relay.received) >= n), relay.received
    return relay.received


def sender(server, name="alice", **fields):
    uid = user(server, name, name=name.title(), **fields)
    return uid, mailbox_ids(server, uid)


def upload(server, uid, mailbox, raw, **fields):
    status, body = server.api("POST", f"/users/{uid}/mailboxes/{mailbox}/messages",
                              {"raw": base64.b64encode(raw).decode(), **fields})
    assert status == 200, body
    return body["message"]["id"]


def register(server, uid, query, **params):
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    status, body = server.api("GET", f"/users/{uid}/addressregister?query={query}{extra}")
    assert status == 200, body
    assert body["success"] is True
    return [(e["name"], e["address"]) for e in body["results"]]


# ---------------------------------------------------------------------------
# submit


def test_submit_sends_and_keeps_a_copy_in_sent(relayed, relay):
    uid, boxes = sender(relayed)
    status, body = relayed.api("POST", f"/users/{uid}/submit", {
        "from": {"name": "Mallory", "address": "mallory@evil.example"},
        "to": [{"name": "Bob Builder", "address": "bob@example.org"}],
        "cc": [{"address": "carol@example.net"}],
        "bcc": [{"name": "Hidden Dave", "address": "dave@example.net"}],
        "subject": "Plans",
        "text": "See you at noon.",
    })
    assert status == 200, body
    message = body["message"]
    assert body["success"] is True and message["mailbox"] == boxes["Sent Mail"]
    assert isinstance(message["id"], int) and len(message["queueId"]) == 24
    mail_from, rcpts, data = received(relay)[0]
    assert len(relay.received) == 1
    # Not one of alice's addresses: sent as alice, under the name given.
    assert mail_from == "alice@example.com"
    assert sorted(rcpts) == ["bob@example.org", "carol@example.net", "dave@example.net"]
    header = data.split(b"\r\n\r\n", 1)[0]
    assert b"Subject: Plans" in header
    assert b"alice@example.com" in header and b"mallory@evil.example" not in header
    assert b"dave@example.net" not in header, "Bcc is not sent"
    sent = messages(relayed, uid, "Sent Mail")
    assert len(sent) == 1 and b"Bcc:" in sent[0] and b"dave@example.net" in sent[0]
    status, stored = relayed.api("GET", f"/users/{uid}/mailboxes/{boxes['Sent Mail']}/messages/{message['id']}")
    assert status == 200 and stored["seen"] is True and stored["draft"] is False
    # The recipients are in the register.
    assert register(relayed, uid, "bob") == [("Bob Builder", "bob@example.org")]
    assert register(relayed, uid, "hidden") == [("Hidden Dave", "dave@example.net")]
    # The daily recipient counter counts them.
    _, info = relayed.api("GET", f"/users/{uid}")
    assert info["limits"]["recipients"]["used"] == 3


def test_submit_reply_threads_and_flags_the_original(relayed, relay):
    uid, boxes = sender(relayed)
    upload(relayed, uid, boxes["INBOX"], ORIGINAL)
    status, body = relayed.api("POST", f"/users/{uid}/submit", {
        "reference": {"mailbox": boxes["INBOX"], "id": 1, "action": "reply"},
        "text": "Thanks!",
    })
    assert status == 200, body
    _, rcpts, data = received(relay)[0]
    assert rcpts == ["someone@example.org"]
    assert b"In-Reply-To: <keep-bytes@example.org>" in data
    assert b"Subject: Re: Keep my bytes" in data
    _, original = relayed.api("GET", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/1")
    assert original["answered"] is True


def test_submit_with_sending_off_is_refused(start_eider):
    eider = start_eider(extra_args=["--set", "outbound.enabled=false"])
    uid, boxes = sender(eider)
    body = assert_error(eider.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "bob@example.org"}], "subject": "No relay", "text": "x",
    }), 503, "ERRCOMPOSE")
    assert "not enabled" in body["error"]
    assert messages(eider, uid, "Sent Mail") == []
    # Only storing needs no relay.
    status, body = eider.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "bob@example.org"}], "subject": "Kept", "text": "x", "uploadOnly": True,
    })
    assert status == 200 and "queueId" not in body["message"], body
    assert body["message"]["mailbox"] == boxes["Sent Mail"]
    status, body = eider.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "bob@example.org"}], "subject": "Draft", "text": "x", "isDraft": True,
    })
    assert status == 200 and body["message"]["mailbox"] == boxes["Drafts"], body
    _, draft = eider.api("GET", f"/users/{uid}/mailboxes/{boxes['Drafts']}/messages/{body['message']['id']}")
    assert draft["draft"] is True


def test_disabled_and_suspended_users_cannot_send(relayed, relay):
    uid, _ = sender(relayed)
    for flag in ("disabled", "suspended"):
        assert relayed.api("PUT", f"/users/{uid}", {flag: True})[0] == 200
        assert_error(relayed.api("POST", f"/users/{uid}/submit", {
            "to": [{"address": "bob@example.org"}], "text": "x",
        }), 403, "UserDisabled")
        assert relayed.api("PUT", f"/users/{uid}", {flag: False})[0] == 200
    assert relay.received == []
    assert relayed.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "bob@example.org"}], "text": "x"})[0] == 200


def test_submit_errors(relayed, relay):
    uid, boxes = sender(relayed, recipients=2)
    assert_error(relayed.api("POST", f"/users/{uid}/submit", {"subject": "nobody", "text": "x"}),
                 400, "InputValidationError")
    assert_error(relayed.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "not an address"}], "text": "x"}), 400, "InputValidationError")
    assert_error(relayed.api("POST", f"/users/{ZERO}/submit", {
        "to": [{"address": "bob@example.org"}], "text": "x"}), 404, "UserNotFound")
    assert_error(relayed.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "bob@example.org"}], "text": "x", "mailbox": ZERO}), 404, "NoSuchMailbox")
    # A daily limit of two recipients: three at once are refused, two pass.
    assert_error(relayed.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": f"r{i}@example.org"} for i in range(3)], "text": "x"}), 403, "RateLimitedError")
    assert relay.received == []
    assert relayed.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": f"r{i}@example.org"} for i in range(2)], "text": "x"})[0] == 200
    assert messages(relayed, uid, "Sent Mail") != []


def test_refusing_relay_defers_and_keeps_the_copy(start_eider):
    """Queued is sent: a relay answering 451 defers the message (it stays queued
    and is retried), the submission was answered 200 and the Sent copy is kept."""
    sink = SmtpSink(refuse=True)
    try:
        server = start_eider(extra_args=relay_args(sink))
        uid, _ = sender(server)
        status, body = server.api("POST", f"/users/{uid}/submit", {
            "to": [{"address": "bob@example.org"}], "text": "x"})
        assert status == 200, body
        assert len(messages(server, uid, "Sent Mail")) == 1
        assert sink.received == []
    finally:
        sink.close()


# ---------------------------------------------------------------------------
# stored drafts and forwards


def test_submit_stored_draft_moves_it_to_sent(relayed, relay):
    uid, boxes = sender(relayed)
    draft = (b"From: Alice <alice@example.com>\r\nTo: Erin <erin@example.org>\r\n"
             b"Bcc: frank@example.org\r\nSubject: From drafts\r\n\r\nbody\r\n")
    did = upload(relayed, uid, boxes["Drafts"], draft, draft=True, unseen=True)
    status, body = relayed.api("POST", f"/users/{uid}/mailboxes/{boxes['Drafts']}/messages/{did}/submit",
                               {"deleteFiles": True})
    assert status == 200, body
    assert body["success"] is True and len(body["queueId"]) == 24
    assert body["message"]["mailbox"] == boxes["Sent Mail"] and body["message"]["size"] == len(draft)
    mail_from, rcpts, data = received(relay)[0]
    assert (mail_from, sorted(rcpts)) == ("alice@example.com", ["erin@example.org", "frank@example.org"])
    assert data == draft.replace(b"Bcc: frank@example.org\r\n", b"")
    assert messages(relayed, uid, "Drafts") == []
    assert messages(relayed, uid, "Sent Mail") == [draft]
    _, sent = relayed.api("GET", f"/users/{uid}/mailboxes/{boxes['Sent Mail']}/messages/{body['message']['id']}")
    assert sent["draft"] is False and sent["seen"] is True
    assert register(relayed, uid, "erin") == [("Erin", "erin@example.org")]
    # Only drafts are submitted; missing ones are not found.
    inbox_uid = upload(relayed, uid, boxes["INBOX"], ORIGINAL)
    assert_error(relayed.api("POST", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{inbox_uid}/submit", {}),
                 400, "MessageNotDraft")
    assert_error(relayed.api("POST", f"/users/{uid}/mailboxes/{boxes['Drafts']}/messages/{did}/submit", {}),
                 404, "MessageNotFound")


def test_forward_stored_message_sends_the_original_bytes(relayed, relay):
    uid, boxes = sender(relayed)
    assert relayed.api("PUT", f"/users/{uid}", {"targets": ["kept@example.net"]})[0] == 200
    mid = upload(relayed, uid, boxes["INBOX"], ORIGINAL)
    status, body = relayed.api("POST", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{mid}/forward",
                               {"target": 1, "addresses": ["other@example.net"]})
    assert status == 200, body
    assert body["success"] is True and len(body["queueId"]) == 24
    assert body["forwarded"] == [
        {"seq": "001", "type": "mail", "value": "kept@example.net"},
        {"seq": "002", "type": "mail", "value": "other@example.net"},
    ]
    assert received(relay, 2) == [
        ("alice@example.com", ["kept@example.net"], ORIGINAL),
        ("alice@example.com", ["other@example.net"], ORIGINAL),
    ]
    # The stored message is unchanged.
    assert messages(relayed, uid, "INBOX") == [ORIGINAL]
    # Errors.
    base = f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages"
    assert_error(relayed.api("POST", f"{base}/999/forward", {"addresses": ["x@example.net"]}),
                 404, "MessageNotFound")
    assert_error(relayed.api("POST", f"/users/{uid}/mailboxes/{ZERO}/messages/1/forward",
                             {"addresses": ["x@example.net"]}), 404, "NoSuchMailbox")
    assert_error(relayed.api("POST", f"{base}/{mid}/forward", {}), 400, "InputValidationError")
    assert_error(relayed.api("POST", f"{base}/{mid}/forward", {"target": 2}), 400, "InputValidationError")
    assert_error(relayed.api("POST", f"{base}/{mid}/forward", {"addresses": ["nope"]}),
                 400, "InputValidationError")
    assert len(relay.received) == 2


def test_forward_with_sending_off_is_refused(start_eider):
    eider = start_eider(extra_args=["--set", "outbound.enabled=false"])
    uid, boxes = sender(eider)
    mid = upload(eider, uid, boxes["INBOX"], ORIGINAL)
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{mid}/forward",
                           {"addresses": ["x@example.net"]}), 503, "ERRCOMPOSE")
    assert_error(eider.api("POST", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{mid}/submit", {}),
                 503, "ERRCOMPOSE")


# ---------------------------------------------------------------------------
# the address register


def test_address_register_from_uploads_and_imap_append(eider):
    uid, boxes = sender(eider)
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{boxes['Sent Mail']}/messages", {
        "to": [{"name": "Carol Danvers", "address": "Carol@Example.NET"}],
        "cc": [{"address": "zoe@example.net"}],
        "subject": "composed upload", "text": "x",
    })
    assert status == 200, body
    # Messages stored elsewhere are not the user's sent mail.
    upload(eider, uid, boxes["INBOX"], b"From: x@example.org\r\nTo: ignored@example.org\r\n\r\nx\r\n")
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=30)
    try:
        imap.login("alice", "secret-pass")
        raw = (b"From: alice@example.com\r\nTo: \"Dave Smith\" <dave.smith@example.org>\r\n"
               b"Subject: appended\r\n\r\nhi\r\n")
        typ, data = imap.append('"Sent Mail"', None, None, raw)
        assert typ == "OK", data
    finally:
        imap.logout()
    assert register(eider, uid, "car") == [("Carol Danvers", "Carol@example.net")]
    assert register(eider, uid, "DANV") == [("Carol Danvers", "Carol@example.net")], "a word of the name, any case"
    assert register(eider, uid, "smith") == [("Dave Smith", "dave.smith@example.org")]
    assert register(eider, uid, "dave.s") == [("Dave Smith", "dave.smith@example.org")]
    assert register(eider, uid, "zoe") == [("", "zoe@example.net")]
    assert register(eider, uid, "ignored") == []
    assert register(eider, uid, "arol") == [], "a prefix, not a substring"
    # Newest first; limit.
    both = register(eider, uid, "d")
    assert both[0] == ("Dave Smith", "dave.smith@example.org") and len(both) == 2
    assert register(eider, uid, "d", limit=1) == [("Dave Smith", "dave.smith@example.org")]
    status, body = eider.api("GET", f"/users/{uid}/addressregister?query=car")
    entry = body["results"][0]
    assert set(entry) == {"id", "name", "address"} and len(entry["id"]) == 24
    # Errors.
    assert_error(eider.api("GET", f"/users/{uid}/addressregister"), 400, "InputValidationError")
    assert_error(eider.api("GET", f"/users/{uid}/addressregister?query=%20"), 400, "InputValidationError")
    assert_error(eider.api("GET", f"/users/{uid}/addressregister?query=a&limit=0"), 400, "InputValidationError")
    assert_error(eider.api("GET", f"/users/{uid}/addressregister?query=a&limit=251"), 400,
                 "InputValidationError")
    assert_error(eider.api("GET", f"/users/{ZERO}/addressregister?query=x"), 404, "UserNotFound")
    # The register goes with the user.
    assert eider.api("DELETE", f"/users/{uid}")[0] == 200
    assert_error(eider.api("GET", f"/users/{uid}/addressregister?query=car"), 404, "UserNotFound")


def test_address_register_of_another_user_is_forbidden(start_eider):
    server = start_eider(extra_args=[
        "--set", "api.accessControl.enabled=true",
        "--set", f'api.accessControl.secret="{SECRET}"',
    ])
    ids = {}
    for name in ("alice", "bob"):
        status, body = server.api("POST", "/users", {"username": name, "password": "pass-" + name,
                                                     "address": f"{name}@example.com"}, token=SECRET)
        assert status == 200, body
        ids[name] = body["id"]
    status, body = server.api("POST", "/authenticate",
                              {"username": "alice", "password": "pass-alice", "token": True}, token=SECRET)
    assert status == 200, body
    token = body["token"]
    assert server.api("GET", f"/users/{ids['alice']}/addressregister?query=a", token=token)[0] == 200
    assert server.api("GET", "/users/me/addressregister?query=a", token=token)[0] == 200
    status, body = server.api("GET", f"/users/{ids['bob']}/addressregister?query=a", token=token)
    assert (status, body["code"]) == (403, "MissingPrivileges")
    status, body = server.api("POST", f"/users/{ids['bob']}/submit",
                              {"to": [{"address": "x@example.org"}], "text": "x"}, token=token)
    assert (status, body["code"]) == (403, "MissingPrivileges")


# ---------------------------------------------------------------------------
# the forward filter of listings


def walk(server, path):
    """Every result of a paged listing, following nextCursor; checks page sizes."""
    seen, url, pages = [], path, 0
    while url:
        status, body = server.api("GET", url)
        assert status == 200, body
        pages += 1
        cursor = body.get("nextCursor")
        assert len(body["results"]) == 2 or not cursor, body
        seen.extend(r["id"] for r in body["results"])
        url = f"{path}&next={cursor}" if cursor else None
    return seen, body["total"], pages


def test_forward_filter_pages_users_and_addresses(eider):
    wanted = []
    for i in range(7):
        target = "Hop@Relay-Seven.example" if i % 3 != 2 else f"plain{i}@example.org"
        uid = eider.create_user(f"fwd{i}", targets=[target])
        if i % 3 != 2:
            wanted.append(uid)
    users, total, pages = walk(eider, "/users?forward=relay-seven&limit=2")
    assert sorted(users) == sorted(wanted) and len(users) == 5
    assert total == 5 and pages == 3
    fwd = []
    for i in range(5):
        target = "smtp://mx.relay-seven.example:25" if i != 1 else "elsewhere@example.org"
        status, body = eider.api("POST", "/addresses/forwarded",
                                 {"address": f"list{i}@lists.example", "targets": [target]})
        assert status == 200, body
        if i != 1:
            fwd.append(body["id"])
    addresses, total, pages = walk(eider, "/addresses?forward=RELAY-SEVEN&limit=2")
    assert sorted(addresses) == sorted(fwd) and total == 4 and pages == 2
