"""The outbound queue through real sockets: an aiosmtpd server stands in for the
relay. A relay down for a while gets the message once it is back (once); a
permanent refusal produces a DSN in the sender's INBOX; a future sendTime holds
the message and DELETE /users/{user}/outbound/{queueId} cancels it; kill -9
with messages queued loses none."""

import signal
import socket
import time

import pytest
from aiosmtpd.controller import Controller

from lmtp_support import mailbox_ids, messages, user, wait_for


class Sink:
    """An aiosmtpd relay: records (mail_from, rcpts, data); `answer` set to a
    reply string refuses at RCPT with it."""

    def __init__(self, port=0):
        self.received = []
        self.answer = None
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if sink.answer:
                    return sink.answer
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                sink.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 queued"

        # aiosmtpd checks it is up by connecting to its port: it needs a real one.
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port or free_port())
        self.controller.start()
        self.port = self.controller.port

    def close(self):
        self.controller.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def queue_args(port, *extra):
    return [
        "--set", "relay.enabled=true",
        "--set", f"relay.port={port}",
        "--set", "relay.timeout=5",
        "--set", "outbound.retryDelay=1",
        "--set", "outbound.maxRetryDelay=1",
        "--set", "outbound.pollInterval=200",
        # A killed instance's leases run out quickly.
        "--set", "outbound.lease=3",
        *extra,
    ]


def submit(server, uid, to, **fields):
    status, body = server.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": a} for a in to], "subject": fields.pop("subject", "hello"),
        "text": "queued body", **fields,
    })
    assert status == 200, body
    return body["message"]["queueId"]


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def test_relay_down_then_up_delivers_once(start_eider):
    port = free_port()
    server = start_eider(extra_args=queue_args(port))
    uid = user(server, "alice")
    qid = submit(server, uid, ["bob@example.org"], subject="while down")
    # A few attempts (one a second) fail while nothing listens.
    time.sleep(2.5)
    assert len(messages(server, uid, "Sent Mail")) == 1
    sink = Sink(port)
    try:
        assert wait_for(lambda: sink.received, timeout=20)
        time.sleep(2)  # a second copy would have come by now (retries every second)
        assert len(sink.received) == 1, sink.received
        mail_from, rcpts, data = sink.received[0]
        assert (mail_from, rcpts) == ("alice@example.com", ["bob@example.org"])
        assert b"Subject: while down" in data
        # Delivered: nothing left to cancel.
        status, body = server.api("DELETE", f"/users/{uid}/outbound/{qid}")
        assert status == 200 and body == {"success": False, "code": "NoSuchQueueEntry"}, body
    finally:
        sink.close()


def test_permanent_refusal_bounces_to_the_senders_inbox(start_eider, sink):
    sink.answer = "550 5.1.1 no such mailbox here"
    server = start_eider(extra_args=queue_args(sink.port))
    uid = user(server, "carol")
    submit(server, uid, ["nobody@example.org"], subject="doomed")
    assert wait_for(lambda: messages(server, uid, "INBOX"), timeout=20)
    [dsn] = messages(server, uid, "INBOX")
    text = dsn.decode("utf-8", "replace")
    assert "multipart/report; report-type=delivery-status" in text
    assert "Final-Recipient: rfc822; nobody@example.org" in text
    assert "Status: 5.1.1" in text
    assert "550 5.1.1 no such mailbox here" in text
    assert "Subject: doomed" in text, "the original header comes back"
    assert sink.received == []
    # One bounce only: the entry is gone.
    time.sleep(2)
    assert len(messages(server, uid, "INBOX")) == 1


def test_send_time_holds_and_delete_cancels(start_eider, sink):
    server = start_eider(extra_args=queue_args(sink.port))
    uid = user(server, "dave")
    other = user(server, "erin")
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    held = submit(server, uid, ["x@example.org", "y@example.net"], subject="held", sendTime=later)
    brief = submit(server, uid, ["z@example.org"], subject="brief", sendTime=soon)
    assert len(held) == 24 and held != brief
    # Another user cannot cancel it; bad ids are refused.
    assert server.api("DELETE", f"/users/{other}/outbound/{held}")[1] == {
        "success": False, "code": "NoSuchQueueEntry"}
    status, body = server.api("DELETE", f"/users/{uid}/outbound/not-hex")
    assert status == 400 and body["code"] == "InputValidationError", body
    # The short hold passes and that one goes; the long one waits.
    assert wait_for(lambda: sink.received, timeout=20)
    assert [r[1] for r in sink.received] == [["z@example.org"]]
    status, body = server.api("DELETE", f"/users/{uid}/outbound/{held}")
    assert status == 200 and body == {"success": True, "queueId": held, "deleted": 1}, body
    assert server.api("DELETE", f"/users/{uid}/outbound/{held}")[1]["success"] is False
    # Both copies are in Sent.
    assert len(messages(server, uid, "Sent Mail")) == 2
    assert [r[1] for r in sink.received] == [["z@example.org"]]


def test_kill9_with_entries_queued_loses_none(start_eider, tmp_path):
    port = free_port()
    data_dir = tmp_path / "kill9"
    server = start_eider(data_dir=data_dir, extra_args=queue_args(port))
    uid = user(server, "frank")
    total = 30
    for i in range(total):
        submit(server, uid, [f"r{i}@example.org"], subject=f"kill9 {i}")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    sink = Sink(port)
    try:
        start_eider(data_dir=data_dir, extra_args=queue_args(port))
        assert wait_for(lambda: len(sink.received) >= total, timeout=60), len(sink.received)
        subjects = sorted(
            next(l for l in r[2].split(b"\r\n") if l.startswith(b"Subject: ")) for r in sink.received
        )
        assert sorted(set(subjects)) == sorted(f"Subject: kill9 {i}".encode() for i in range(total))
    finally:
        sink.close()
