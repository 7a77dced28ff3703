"""Autoreply set over the API answers LMTP deliveries through the configured
relay: once per sender per period (lmtp.autoreplyInterval), from the null
sender with RFC 3834 headers, and never to mailing lists, bulk or
auto-submitted mail, robots, the null sender, or spam; only between start and
end, and only while enabled."""

import base64
import email
import email.policy
import time

import pytest

from lmtp_support import SmtpSink, deliver, delivered, make_message, messages, wait_for

INTERVAL = 3


@pytest.fixture
def relay():
    sink = SmtpSink()
    yield sink
    sink.close()


@pytest.fixture
def server(start_eider, relay):
    return start_eider(extra_args=[
        "--set", "relay.enabled=true",
        "--set", f"relay.port={relay.port}",
        "--set", f"lmtp.autoreplyInterval={INTERVAL}",
    ])


def away_user(server, username="away", **settings):
    uid = server.create_user(username, address=f"{username}@example.com")
    body = {"status": True, "name": "Ülle Away", "subject": "Out of office",
            "text": "Back on Monday.", "html": "<p>Back on <b>Monday</b>.</p>", **settings}
    status, resp = server.api("PUT", f"/users/{uid}/autoreply", body)
    assert status == 200 and resp.get("success"), resp
    return uid


def send(server, sender, subject="Hello", headers=(), rcpt="away@example.com", message_id=None):
    msg = make_message(subject=subject, headers=list(headers), message_id=message_id)
    rcpts, data = deliver(server, [rcpt], msg, sender=sender)
    assert rcpts[0][0] == 250, rcpts
    assert data[0][0] == 250, data
    return msg


def replies_to(relay, addr):
    return [r for r in relay.received if r[1] == [addr]]


def test_autoreply_once_per_sender_per_period(server, relay):
    uid = away_user(server)
    send(server, "alice@example.org", "first", message_id="<first-1@example.org>")
    assert wait_for(lambda: relay.received)
    send(server, "alice@example.org", "second")
    send(server, "Alice@Example.org", "third")
    send(server, "bob@example.org", "from bob")
    assert wait_for(lambda: len(relay.received) >= 2)
    time.sleep(0.3)
    assert len(replies_to(relay, "alice@example.org")) == 1
    assert len(replies_to(relay, "bob@example.org")) == 1
    assert len(relay.received) == 2

    mail_from, rcpts, raw = replies_to(relay, "alice@example.org")[0]
    assert mail_from == ""  # RFC 3834: autoreplies go out from the null sender
    assert rcpts == ["alice@example.org"]
    reply = email.message_from_bytes(raw, policy=email.policy.default)
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Subject"] == "Out of office"
    assert reply["In-Reply-To"] == "<first-1@example.org>"
    assert "<first-1@example.org>" in reply["References"]
    assert reply["From"].addresses[0].addr_spec == "away@example.com"
    assert reply["From"].addresses[0].display_name == "Ülle Away"
    assert reply["To"].addresses[0].addr_spec == "alice@example.org"
    assert reply.get_body(("plain",)).get_content().strip() == "Back on Monday."
    assert "<b>Monday</b>" in reply.get_body(("html",)).get_content()
    # Every message was still delivered.
    assert len(messages(server, uid, username="away")) == 4

    # After the period the same sender is answered again.
    time.sleep(INTERVAL + 0.5)
    send(server, "alice@example.org", "after a while")
    assert wait_for(lambda: len(replies_to(relay, "alice@example.org")) == 2)


@pytest.mark.parametrize("sender,headers", [
    ("list@lists.example.org", ["List-Id: News <news.lists.example.org>"]),
    ("news@example.org", ["List-Unsubscribe: <mailto:leave@example.org>"]),
    ("bulk@example.org", ["Precedence: bulk"]),
    ("junk@example.org", ["Precedence: junk"]),
    ("robot@example.org", ["Auto-Submitted: auto-generated"]),
    ("ooo@example.org", ["Auto-Submitted: auto-replied"]),
    ("exchange@example.org", ["X-Auto-Response-Suppress: OOF, AutoReply"]),
    ("MAILER-DAEMON@example.org", []),
    ("noreply@example.org", []),
    ("owner-list@example.org", []),
    ("list-request@example.org", []),
    ("", []),
    ("spammer@example.org", ["X-Spam-Flag: YES"]),
])
def test_no_autoreply_to_automatic_mail(server, relay, sender, headers):
    away_user(server)
    send(server, sender, "automatic", headers)
    # A normal message after it is answered: the relay works, only that one was skipped.
    send(server, "human@example.org", "human")
    assert wait_for(lambda: relay.received)
    time.sleep(0.2)
    assert [r[1] for r in relay.received] == [["human@example.org"]]


def test_autoreply_status_and_dates(server, relay):
    uid = away_user(server, status=False)
    send(server, "one@example.org")
    # Not started yet.
    assert server.api("PUT", f"/users/{uid}/autoreply", {"status": True, "start": "2999-01-01T00:00:00Z"})[0] == 200
    send(server, "two@example.org")
    # Already over.
    assert server.api("PUT", f"/users/{uid}/autoreply",
                      {"start": False, "end": "2000-01-01T00:00:00Z"})[0] == 200
    send(server, "three@example.org")
    # Within the window.
    assert server.api("PUT", f"/users/{uid}/autoreply",
                      {"start": "2000-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"})[0] == 200
    send(server, "four@example.org")
    assert wait_for(lambda: relay.received)
    # Deleted: no more replies.
    assert server.api("DELETE", f"/users/{uid}/autoreply")[0] == 200
    send(server, "five@example.org")
    time.sleep(0.2)
    assert [r[1] for r in relay.received] == [["four@example.org"]]


def test_default_subject_and_encoded_headers(server, relay):
    away_user(server, subject="", name="", html="", text="Gone fishing — back soon.")
    send(server, "carol@example.org", "Quarterly numbers")
    assert wait_for(lambda: relay.received)
    raw = relay.received[0][2]
    reply = email.message_from_bytes(raw, policy=email.policy.default)
    assert reply["Subject"] == "Auto: Quarterly numbers"
    assert reply.get_content_type() == "text/plain"
    assert reply.get_content().strip() == "Gone fishing — back soon."
    # 7-bit on the wire: the body is base64.
    assert all(b < 128 for b in raw)
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert base64.b64decode(body).decode().strip() == "Gone fishing — back soon."


def test_no_relay_means_no_autoreply(start_eider):
    server = start_eider()
    uid = server.create_user("quiet", address="quiet@example.com")
    assert server.api("PUT", f"/users/{uid}/autoreply", {"status": True, "text": "away"})[0] == 200
    msg = make_message(subject="hello")
    _, data = deliver(server, ["quiet@example.com"], msg, sender="x@example.org")
    assert data[0][0] == 250
    assert messages(server, uid, username="quiet") == [delivered("quiet@example.com", msg)]
