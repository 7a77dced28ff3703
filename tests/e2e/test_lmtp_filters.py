"""Filters created over the API act on LMTP deliveries: seen, flag, delete,
spam (both ways), move to a mailbox, forward to an SMTP sink (the relay) and
POST to an HTTP receiver; queries on from, to, subject, listId, text, ha and
size; applied in order; disabled filters ignored; changes apply at once."""

import pytest

from lmtp_support import HttpSink, SmtpSink, deliver, delivered, make_message, wait_for


@pytest.fixture
def relay():
    sink = SmtpSink()
    yield sink
    sink.close()


@pytest.fixture
def hook():
    sink = HttpSink()
    yield sink
    sink.close()


@pytest.fixture
def server(start_eider, relay):
    # The HTTP hook listens on loopback, which forwarding targets may reach only when allowed.
    return start_eider(extra_args=["--set", "relay.enabled=true", "--set", f"relay.port={relay.port}",
                                   "--set", "relay.allowPrivateTargets=true"])


def new_user(server, name, **fields):
    return server.create_user(name, address=f"{name}@example.com", **fields)


def add_filter(server, uid, query, action, **extra):
    status, body = server.api("POST", f"/users/{uid}/filters", {"query": query, "action": action, **extra})
    assert status == 200 and body.get("success"), (status, body)
    return body["id"]


def mailboxes(server, uid):
    status, body = server.api("GET", f"/users/{uid}/mailboxes")
    assert status == 200, body
    return {m["path"]: m["id"] for m in body["results"]}


def stored(server, uid):
    """{subject: (mailbox path, seen, flagged)} of everything the user has."""
    out = {}
    for path, mid in mailboxes(server, uid).items():
        status, body = server.api("GET", f"/users/{uid}/mailboxes/{mid}/messages?limit=250")
        assert status == 200, body
        for m in body["results"]:
            out[m["subject"]] = (path, m["seen"], m["flagged"])
    return out


def eml(server, uid, path, subject):
    mid = mailboxes(server, uid)[path]
    status, body = server.api("GET", f"/users/{uid}/mailboxes/{mid}/messages?limit=250")
    msg = next(m for m in body["results"] if m["subject"] == subject)
    status, raw = server.api("GET", f"/users/{uid}/mailboxes/{mid}/messages/{msg['id']}/message.eml", raw=True)
    assert status == 200
    return raw


def send(server, rcpt, subject, sender="sender@example.org", **kw):
    msg = make_message(subject=subject, **kw)
    rcpts, data = deliver(server, [rcpt], msg, sender=sender)
    assert rcpts[0][0] == 250, rcpts
    assert data[0][0] == 250, data
    return msg


def with_from(addr):
    return ["Sender: " + addr]


def test_filters_act_on_delivery(server, relay, hook):
    uid = new_user(server, "filtered")
    status, body = server.api("POST", f"/users/{uid}/mailboxes", {"path": "Lists"})
    assert status == 200, body
    lists = body["id"]
    rcpt = "filtered@example.com"
    add_filter(server, uid, {"from": "boss@corp.example"}, {"seen": True, "flag": True}, name="boss")
    add_filter(server, uid, {"subject": "lottery"}, {"delete": True})
    add_filter(server, uid, {"listId": "<dev.lists.example>"}, {"mailbox": lists})
    add_filter(server, uid, {"from": "friend@pals.example"}, {"spam": False})
    add_filter(server, uid, {"subject": "cheap pills"}, {"spam": True})
    add_filter(server, uid, {"to": "team@example.com"}, {"flag": True})
    add_filter(server, uid, {"text": "secret handshake"}, {"mailbox": lists, "seen": True})
    add_filter(server, uid, {"size": 20000}, {"flag": True})
    add_filter(server, uid, {"subject": "forward me"},
               {"targets": ["copy@example.net", f"http://127.0.0.1:{hook.port}/filter-hook"]})
    add_filter(server, uid, {"subject": "disabled rule"}, {"delete": True}, disabled=True)

    send(server, rcpt, "plain")
    send(server, rcpt, "from the boss", headers=with_from("Big Boss <boss@corp.example>"))
    send(server, rcpt, "lottery win")
    send(server, rcpt, "list mail", headers=["List-ID: Dev list <dev.lists.example>"])
    send(server, rcpt, "friendly", headers=with_from("friend@pals.example") + ["X-Spam-Flag: YES"])
    send(server, rcpt, "spammy", headers=["X-Spam-Flag: YES"])
    send(server, rcpt, "cheap pills")
    send(server, rcpt, "to the team", headers=["Cc: Team <team@example.com>"])
    send(server, rcpt, "club", body="Please use the secret\r\n   handshake today.\r\n")
    send(server, rcpt, "big one", body=("x" * 70 + "\r\n") * 400)
    forwarded = send(server, rcpt, "forward me please", sender="orig@example.org")
    send(server, rcpt, "disabled rule")

    assert stored(server, uid) == {
        "plain": ("INBOX", False, False),
        "from the boss": ("INBOX", True, True),
        "list mail": ("Lists", False, False),
        "friendly": ("INBOX", False, False),
        "spammy": ("Junk", False, False),
        "cheap pills": ("Junk", False, False),
        "to the team": ("INBOX", False, True),
        "club": ("Lists", True, False),
        "big one": ("INBOX", False, True),
        "forward me please": ("INBOX", False, False),
        "disabled rule": ("INBOX", False, False),
    }
    # Stored bytes are the Delivered-To line, then the received bytes; the forward
    # carries the received bytes as they are.
    assert eml(server, uid, "INBOX", "forward me please") == delivered(rcpt, forwarded)
    # The forward went through the relay with the original envelope sender, and
    # the HTTP target got the parsed message.
    assert wait_for(lambda: relay.received)
    assert relay.received == [("orig@example.org", ["copy@example.net"], forwarded)]
    assert wait_for(lambda: hook.received)
    assert len(hook.received) == 1
    path, payload = hook.received[0]
    assert path == "/filter-hook"
    assert payload["subject"] == "forward me please"
    assert payload["envelope"]["from"] == "orig@example.org"


def test_attachment_query(server):
    uid = new_user(server, "attach")
    add_filter(server, uid, {"ha": True}, {"flag": True})
    add_filter(server, uid, {"ha": False, "subject": "bare"}, {"seen": True})
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "AAECAwQFBgcICQ==\r\n"
        f"--{boundary}--\r\n"
    )
    msg = (
        "From: a@example.org\r\nTo: attach@example.com\r\nSubject: with file\r\n"
        "Message-ID: <att-1@example.org>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n" + body
    ).encode()
    assert deliver(server, ["attach@example.com"], msg)[1][0][0] == 250
    send(server, "attach@example.com", "bare text")
    assert stored(server, uid) == {
        "with file": ("INBOX", False, True),
        "bare text": ("INBOX", True, False),
    }


def test_filters_apply_in_order(server):
    uid = new_user(server, "ordered")
    status, body = server.api("POST", f"/users/{uid}/mailboxes", {"path": "First"})
    first = body["id"]
    status, body = server.api("POST", f"/users/{uid}/mailboxes", {"path": "Second"})
    second = body["id"]
    # For each action field the first matching filter that sets it decides.
    add_filter(server, uid, {"subject": "order"}, {"mailbox": first, "seen": False})
    add_filter(server, uid, {"subject": "order"}, {"mailbox": second, "seen": True, "flag": True})
    send(server, "ordered@example.com", "order matters")
    assert stored(server, uid) == {"order matters": ("First", False, True)}

    # Filters created later come later; deleting the first lets the second decide.
    status, body = server.api("GET", f"/users/{uid}/filters")
    f1 = body["results"][0]["id"]
    assert server.api("DELETE", f"/users/{uid}/filters/{f1}")[0] == 200
    send(server, "ordered@example.com", "order again")
    assert stored(server, uid)["order again"] == ("Second", True, True)


def test_filter_changes_apply_to_the_next_delivery(server):
    uid = new_user(server, "changing")
    fid = add_filter(server, uid, {"subject": "toggle"}, {"delete": True})
    send(server, "changing@example.com", "toggle 1")
    assert stored(server, uid) == {}
    assert server.api("PUT", f"/users/{uid}/filters/{fid}", {"disabled": True})[0] == 200
    send(server, "changing@example.com", "toggle 2")
    assert set(stored(server, uid)) == {"toggle 2"}
    assert server.api("PUT", f"/users/{uid}/filters/{fid}",
                      {"disabled": False, "action": {"delete": "", "flag": True}})[0] == 200
    send(server, "changing@example.com", "toggle 3")
    assert stored(server, uid)["toggle 3"] == ("INBOX", False, True)


def test_deleted_mail_is_still_forwarded_and_spam_is_not(server, relay):
    uid = new_user(server, "dropper")
    add_filter(server, uid, {"subject": "gone"}, {"delete": True, "targets": ["archive@example.net"]})
    add_filter(server, uid, {"subject": "junk"}, {"spam": True, "targets": ["archive@example.net"]})
    gone = send(server, "dropper@example.com", "gone but kept elsewhere")
    send(server, "dropper@example.com", "junk mail")
    assert stored(server, uid) == {"junk mail": ("Junk", False, False)}
    assert wait_for(lambda: relay.received)
    assert relay.received == [("sender@example.org", ["archive@example.net"], gone)]


def test_filter_limit_and_other_users(server):
    a = new_user(server, "limit-a", filters=1)
    b = new_user(server, "limit-b")
    add_filter(server, a, {"subject": "x"}, {"seen": True})
    status, body = server.api("POST", f"/users/{a}/filters", {"query": {"subject": "y"}, "action": {"seen": True}})
    assert (status, body["code"]) == (403, "TooMany")
    # A's filters never touch B's mail, even for one message to both.
    msg = make_message(subject="x marks")
    _, data = deliver(server, ["limit-a@example.com", "limit-b@example.com"], msg)
    assert [c for c, _ in data] == [250, 250]
    assert stored(server, a) == {"x marks": ("INBOX", True, False)}
    assert stored(server, b) == {"x marks": ("INBOX", False, False)}
