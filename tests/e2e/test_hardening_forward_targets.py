"""Hardening: users' http(s):// and smtp:// forwarding targets can neither smuggle
requests (CR/LF, userinfo: refused at the API) nor reach loopback or private
networks unless the operator allows it ([relay] allowPrivateTargets)."""

import json
import socket
import threading

import pytest

from lmtp_support import SmtpSink, deliver, delivered, make_message, messages, relay_args, user, wait_for

ALLOW_PRIVATE = ["--set", "relay.allowPrivateTargets=true"]


class RawHttpListener:
    """A TCP listener that keeps every byte each connection sends. Each connection
    gets one `200` answer with `Connection: close` after its first request; what
    the client sends until it closes is recorded, so a second request smuggled into
    the same connection shows up as extra bytes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            data = bytearray()
            self.connections.append(data)
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head = bytes(data).split(b"\r\n\r\n", 1)[0]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(data) < len(head) + 4 + length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.shutdown(socket.SHUT_WR)
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            finally:
                conn.close()
                self.closed.set()

    def requests(self):
        """(head lines, body, trailing bytes) of each connection's first request."""
        out = []
        for data in self.connections:
            head, _, rest = bytes(data).partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(
                int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:")
            )
            out.append((lines, rest[:length], rest[length:]))
        return out

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    l = RawHttpListener()
    yield l
    l.close()


@pytest.fixture
def relay():
    sink = SmtpSink()
    yield sink
    sink.close()


def bad_targets(port):
    return [
        f"http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: a\r\n\r\nPOST /smuggled HTTP/1.1\r\nHost: a",
        f"http://127.0.0.1:{port}/x%0D%0APOST%20/smuggled%20HTTP/1.1%0D%0A",
        f"http://127.0.0.1:{port}/x%0aX-Injected:%201",
        f"http://user:secret@127.0.0.1:{port}/x",
        f"https://user@hook.example.com/x",
        f"smtp://127.0.0.1:{port}\r\nRCPT TO:<victim@example.org>",
        f"smtp://user:pw@mx.example.com:25",
        "http://",
    ]


def assert_invalid(result, target):
    status, body = result
    assert (status, body.get("code")) == (400, "InputValidationError"), (target, status, body)


def test_bad_targets_refused_by_every_route(eider, listener):
    uid = user(eider, "alice")
    for target in bad_targets(listener.port):
        assert_invalid(eider.api("PUT", f"/users/{uid}", {"targets": [target]}), target)
        assert_invalid(
            eider.api("POST", "/addresses/forwarded", {"address": "fw@example.com", "targets": [target]}),
            target,
        )
        assert_invalid(
            eider.api(
                "POST",
                f"/users/{uid}/filters",
                {"query": {"subject": "x"}, "action": {"targets": [target]}},
            ),
            target,
        )
    status, info = eider.api("GET", f"/users/{uid}")
    assert status == 200 and info["targets"] == [], info
    status, filters = eider.api("GET", f"/users/{uid}/filters")
    assert status == 200 and filters["results"] == [], filters
    assert listener.connections == []


def test_loopback_target_not_contacted_by_default(start_eider, relay, listener):
    server = start_eider(extra_args=relay_args(relay))
    uid = user(server, "bob")
    target = f"http://127.0.0.1:{listener.port}/hook"
    smtp_target = f"smtp://127.0.0.1:{relay.port}"
    status, body = server.api("PUT", f"/users/{uid}", {"targets": [target, smtp_target]})
    assert status == 200, body
    status, body = server.api(
        "POST", "/addresses/forwarded", {"address": "team@example.com", "targets": [target]}
    )
    assert status == 200, body
    msg = make_message(subject="Stays local")
    _, data = deliver(server, ["bob@example.com"], msg)
    assert [c for c, _ in data] == [250], data
    # The forward failed, the local copy did not.
    assert messages(server, uid, username="bob") == [delivered("bob@example.com", msg)]
    # HTTP forwards run before the reply: a refused target logs its failure by then.
    assert wait_for(lambda: sum("forward failed" in l for l in server.log_lines) >= 1)
    assert any("allowPrivateTargets" in l for l in server.log_lines)
    # The smtp:// copy was queued; the worker refuses the target for good (a bounce).
    assert wait_for(lambda: any("failed for good" in l for l in server.log_lines))
    # A forwarded address whose only target is refused is deferred, not lost.
    _, data = deliver(server, ["team@example.com"], make_message(subject="For the team"))
    assert data[0][0] // 100 == 4, data
    assert listener.connections == []
    # Only the bounce to the (remote) sender went out, through the relay, from <>.
    assert all(mail_from == "" and rcpts != ["bob@example.com"] for mail_from, rcpts, _ in relay.received)


def test_allowed_target_gets_one_well_formed_post(start_eider, relay, listener):
    server = start_eider(extra_args=relay_args(relay) + ALLOW_PRIVATE)
    uid = user(server, "carol")
    target = f"http://127.0.0.1:{listener.port}/hook?k=%20v"
    status, body = server.api("PUT", f"/users/{uid}", {"targets": [target]})
    assert status == 200, body
    msg = make_message(subject="Posted once")
    _, data = deliver(server, ["carol@example.com"], msg)
    assert [c for c, _ in data] == [250], data
    assert messages(server, uid, username="carol") == [delivered("carol@example.com", msg)]
    assert wait_for(lambda: listener.closed.is_set())
    reqs = listener.requests()
    assert len(reqs) == 1
    lines, payload, trailing = reqs[0]
    assert lines[0] == b"POST /hook?k=%20v HTTP/1.1", lines[0]
    headers = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip() for l in lines[1:]}
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"host"] == f"127.0.0.1:{listener.port}".encode()
    assert trailing == b"", trailing
    parsed = json.loads(payload)
    assert parsed["subject"] == "Posted once"
    assert parsed["envelope"]["to"] == ["carol@example.com"]
