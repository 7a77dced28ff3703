"""Forwarding through the outbound relay: forwarded addresses, users' own
targets (SMTP and HTTP), the daily forward limit, and a relay that refuses."""

import pytest

from lmtp_support import HttpSink, SmtpSink, deliver, delivered, make_message, messages, relay_args, user, wait_for


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


def relayed(start_eider, sink):
    # The HTTP hook listens on loopback, which forwarding targets may reach only when allowed.
    return start_eider(extra_args=relay_args(sink) + ["--set", "relay.allowPrivateTargets=true"])


def test_forwarded_address_keeps_bytes_and_envelope(start_eider, relay, hook):
    server = relayed(start_eider, relay)
    status, body = server.api(
        "POST",
        "/addresses/forwarded",
        {
            "address": "team@example.com",
            "targets": ["one@example.net", f"http://127.0.0.1:{hook.port}/incoming"],
        },
    )
    assert status == 200 and body.get("success"), body
    msg = make_message(subject="For the team", body="..dotted\r\n.\r\nend\r\n")
    rcpts, data = deliver(server, ["Team@Example.com"], msg, sender="orig@example.org")
    assert rcpts[0][0] == 250
    assert data[0][0] == 250, data
    assert wait_for(lambda: relay.received)
    assert relay.received == [("orig@example.org", ["one@example.net"], msg)]
    assert len(hook.received) == 1
    path, payload = hook.received[0]
    assert path == "/incoming"
    assert payload["subject"] == "For the team"
    assert payload["envelope"] == {"from": "orig@example.org", "to": ["Team@Example.com"]}


def test_user_targets_get_a_copy_but_not_of_spam(start_eider, relay):
    server = relayed(start_eider, relay)
    uid = user(server, "forwarder")
    assert server.api("PUT", f"/users/{uid}", {"targets": ["copy@example.net"]})[0] == 200
    ham = make_message(subject="ham")
    spam = make_message(subject="spam", headers=["X-Rspamd-Spam: yes"])
    for msg in (ham, spam):
        assert deliver(server, ["forwarder@example.com"], msg, sender="")[1][0][0] == 250
    assert messages(server, uid, username="forwarder") == [delivered("forwarder@example.com", ham)]
    assert messages(server, uid, "Junk", username="forwarder") == [delivered("forwarder@example.com", spam)]
    assert wait_for(lambda: relay.received)
    # The null sender stays the null sender.
    assert relay.received == [("", ["copy@example.net"], ham)]


def test_forward_limit_defers_further_forwards(start_eider, relay):
    server = relayed(start_eider, relay)
    status, body = server.api(
        "POST",
        "/addresses/forwarded",
        {"address": "limited@example.com", "targets": ["x@example.net"], "forwards": 2},
    )
    assert status == 200 and body.get("success"), body
    codes = []
    for i in range(3):
        _, data = deliver(server, ["limited@example.com"], make_message(subject=f"n{i}"))
        codes.append(data[0][0])
    assert codes == [250, 250, 450]
    assert wait_for(lambda: len(relay.received) == 2)


def test_refusing_relay_keeps_the_forward_queued(start_eider):
    """A forwarded address is accepted once its copies are queued: a relay that
    refuses for now defers the copy in the queue, not the LMTP recipient."""
    sink = SmtpSink(refuse=True)
    try:
        server = relayed(start_eider, sink)
        uid = user(server, "local")
        status, body = server.api(
            "POST", "/addresses/forwarded", {"address": "away@example.com", "targets": ["y@example.net"]}
        )
        assert status == 200 and body.get("success"), body
        msg = make_message()
        _, data = deliver(server, ["away@example.com", "local@example.com"], msg)
        assert [c for c, _ in data] == [250, 250]
        assert messages(server, uid, username="local") == [delivered("local@example.com", msg)]
        assert sink.received == []
    finally:
        sink.close()
