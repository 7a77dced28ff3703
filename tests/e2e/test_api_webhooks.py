"""Webhooks: POST/GET/DELETE /webhooks through the real API, and delivery to a
receiver (a small HTTP server in the test): the events of an LMTP delivery, an IMAP
MOVE into Junk (marked.spam) and an API move out of it (marked.ham), each exactly
once per id, signed with HMAC-SHA256, and still delivered after the receiver was
down for a while (retries with backoff)."""

import hashlib
import hmac
import http.server
import imaplib
import json
import threading
import time

import pytest

from lmtp_support import deliver, make_message, mailbox_ids, user, wait_for

SECRET = "webhook-signing-secret"


class Receiver:
    """Records every POST (headers and JSON body); `stop()` closes the port, `start()`
    opens it again on the same port."""

    def __init__(self):
        self.events = []
        self.port = 0
        self.server = None
        self.start()

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.events.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self):
        return [json.loads(raw) for _, raw in self.events]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def server(start_eider):
    return start_eider(extra_args=[
        "--set", f'webhooks.secret="{SECRET}"',
        "--set", "webhooks.retryDelay=200",
        "--set", "webhooks.maxDelay=1",
    ])


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


def test_routes(eider):
    uid = user(eider, "hooked")
    status, a = eider.api("POST", "/webhooks", {"type": ["Marked.*", "message.new"], "user": uid,
                                                "url": "http://127.0.0.1:9/a"})
    assert status == 200 and a["success"] is True, a
    status, b = eider.api("POST", "/webhooks", {"type": ["*"], "url": "https://hooks.example/b"})
    assert status == 200
    status, body = eider.api("GET", "/webhooks")
    assert (status, body["total"]) == (200, 2)
    assert body["results"][0] == {"id": a["id"], "type": ["marked.*", "message.new"], "user": uid,
                                  "url": "http://127.0.0.1:9/a"}
    assert body["results"][1]["user"] is None
    assert [h["id"] for h in eider.api("GET", "/webhooks?type=*")[1]["results"]] == [b["id"]]
    assert [h["id"] for h in eider.api("GET", f"/webhooks?user={uid}")[1]["results"]] == [a["id"]]
    page = eider.api("GET", "/webhooks?limit=1")[1]
    assert len(page["results"]) == 1 and page["nextCursor"]

    assert_error(eider.api("POST", "/webhooks", {"type": [], "url": "http://a.example/"}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/webhooks", {"type": ["a b"], "url": "http://a.example/"}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/webhooks", {"type": ["*"], "url": "ftp://a.example/"}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/webhooks", {"type": ["*"]}), 400, "InputValidationError")
    assert_error(eider.api("POST", "/webhooks", {"type": ["*"], "url": "http://a.example/", "user": "0" * 24}),
                 404, "UserNotFound")
    assert eider.api("DELETE", f"/webhooks/{a['id']}") == (200, {"success": True})
    assert_error(eider.api("DELETE", f"/webhooks/{a['id']}"), 404, "WebhookNotFound")
    assert_error(eider.api("DELETE", "/webhooks/nope"), 400, "InputValidationError")


def imap_move_to_junk(server, username, uid):
    host, port = server.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=30)
    try:
        imap.login(username, "secret-pass")
        assert imap.select("INBOX")[0] == "OK"
        typ, data = imap.uid("MOVE", str(uid), "Junk")
        assert typ == "OK", data
    finally:
        imap.logout()


def test_events_reach_the_receiver_once_each_and_after_an_outage(server, receiver):
    uid = user(server, "trainer")
    other = user(server, "bystander")
    boxes = mailbox_ids(server, uid)
    status, hook = server.api("POST", "/webhooks", {"type": ["message.*", "marked.*"], "user": uid,
                                                    "url": receiver.url})
    assert status == 200, hook

    raw = make_message(subject="Train me")
    _, data = deliver(server, ["trainer@example.com", "bystander@example.com"], raw)
    assert [c for c, _ in data] == [250, 250]
    assert wait_for(lambda: len(receiver.events) >= 1)
    new = receiver.bodies()[0]
    assert (new["ev"], new["user"], new["mailbox"], new["uid"]) == ("message.new", uid, boxes["INBOX"], 1)

    # A user's IMAP MOVE into Junk: "this is spam".
    imap_move_to_junk(server, "trainer", 1)
    assert wait_for(lambda: len(receiver.events) >= 2)
    spam = receiver.bodies()[1]
    assert (spam["ev"], spam["user"], spam["mailbox"], spam["subject"]) == ("marked.spam", uid, boxes["Junk"], "Train me")
    assert spam["from"]["address"] == "sender@example.org"
    path = spam["url"].split("://", 1)[1].split("/", 1)[1]
    status, stored = server.api("GET", "/" + path, raw=True)
    assert status == 200 and stored.endswith(raw)

    # The receiver goes away; the API moves the message out of Junk: "not spam".
    receiver.stop()
    status, moved = server.api("PUT", f"/users/{uid}/mailboxes/{boxes['Junk']}/messages/{spam['uid']}",
                               {"moveTo": boxes["INBOX"]})
    assert status == 200, moved
    time.sleep(1.5)  # several failed attempts while it is down
    receiver.start()
    assert wait_for(lambda: len(receiver.events) >= 3, timeout=20)
    ham = receiver.bodies()[2]
    assert (ham["ev"], ham["mailbox"], ham["subject"]) == ("marked.ham", boxes["INBOX"], "Train me")
    assert ham["message"] != spam["message"] or ham["uid"] != spam["uid"]

    # Nothing for the other user, nothing twice; every body signed.
    time.sleep(1)
    bodies = receiver.bodies()
    assert [b["ev"] for b in bodies] == ["message.new", "marked.spam", "marked.ham"]
    assert len({b["id"] for b in bodies}) == 3
    assert all(b["user"] == uid for b in bodies) and other not in json.dumps(bodies)
    for headers, raw_body in receiver.events:
        expected = "sha256=" + hmac.new(SECRET.encode(), raw_body, hashlib.sha256).hexdigest()
        assert headers["x-eider-signature"] == expected
        assert headers["x-eider-event-id"] == json.loads(raw_body)["id"]


def test_queued_events_survive_a_restart_of_eider(start_eider, tmp_path, receiver):
    args = ["--set", f'webhooks.secret="{SECRET}"', "--set", "webhooks.retryDelay=200",
            "--set", "webhooks.maxDelay=1"]
    first = start_eider(data_dir=tmp_path / "kept", extra_args=args)
    uid = user(first, "durable")
    assert first.api("POST", "/webhooks", {"type": ["mailbox.created"], "url": receiver.url})[0] == 200
    receiver.stop()
    assert first.api("POST", f"/users/{uid}/mailboxes", {"path": "Queued"})[0] == 200
    time.sleep(0.5)  # a failed attempt or two
    assert first.stop() == 0
    receiver.start()
    start_eider(data_dir=tmp_path / "kept", extra_args=args)
    assert wait_for(lambda: len(receiver.events) >= 1, timeout=20)
    body = receiver.bodies()[0]
    assert (body["ev"], body["user"], body["path"]) == ("mailbox.created", uid, "Queued")
