"""HTTP API change stream: GET /users/{user}/updates (Server-Sent Events fed
by the journal), live delivery within a second, and resumption with
Last-Event-ID."""

import base64
import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse

RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: live\r\n\r\nhello\r\n"


class EventStream:
    """A minimal EventSource: parses events on a thread into a queue."""

    def __init__(self, url, headers=None):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        path = parts.path + ("?" + parts.query if parts.query else "")
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        event = {"data": []}
        try:
            for raw in self.resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if event["data"]:
                        self.events.put({"id": event.get("id"), "event": event.get("event", "message"),
                                         "data": json.loads("\n".join(event["data"]))})
                    event = {"data": []}
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        event["data"].append(value)
                    else:
                        event[field] = value
        except Exception:  # connection closed at the end of the test
            pass

    def next(self, timeout):
        return self.events.get(timeout=timeout)

    def until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching event in time")
            try:
                ev = self.next(left)
            except queue.Empty:
                raise AssertionError("no matching event in time")
            if predicate(ev):
                return ev

    def close(self):
        # Shut the socket down so that the reader thread's blocking read returns.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def inbox_of(eider, uid):
    return [m["id"] for m in eider.api("GET", f"/users/{uid}/mailboxes")[1]["results"] if m["path"] == "INBOX"][0]


def test_upload_and_flag_change_arrive_within_a_second(eider):
    uid = eider.create_user("alice")
    inbox = inbox_of(eider, uid)
    stream = EventStream(eider.api_url + f"/users/{uid}/updates")
    assert stream.resp.status == 200
    assert stream.resp.getheader("Content-Type").startswith("text/event-stream")
    try:
        started = time.monotonic()
        status, body = eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages",
                                 {"raw": base64.b64encode(RAW).decode(), "unseen": True})
        assert status == 200
        ev = stream.until(lambda e: e["data"]["command"] == "EXISTS", 1.0)
        assert time.monotonic() - started < 1.0
        assert ev["data"]["mailbox"] == inbox and ev["data"]["uid"] == body["message"]["id"]
        assert ev["id"] and int(ev["id"]) > 0
        counters = stream.until(lambda e: e["data"]["command"] == "COUNTERS", 1.0)
        assert counters["data"] == {"command": "COUNTERS", "mailbox": inbox, "total": 1, "unseen": 1}

        started = time.monotonic()
        eider.api("PUT", f"/users/{uid}/mailboxes/{inbox}/messages/1", {"seen": True})
        ev = stream.until(lambda e: e["data"]["command"] == "FETCH", 1.0)
        assert time.monotonic() - started < 1.0
        assert "\\Seen" in ev["data"]["flags"] and ev["data"]["unseen"] is False

        status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Live"})
        ev = stream.until(lambda e: e["data"]["command"] == "CREATE", 1.0)
        assert ev["data"]["mailbox"] == body["id"] and ev["data"]["path"] == "Live"

        eider.api("DELETE", f"/users/{uid}/mailboxes/{inbox}/messages/1")
        stream.until(lambda e: e["data"]["command"] == "EXPUNGE", 1.0)
    finally:
        stream.close()


def test_resume_with_last_event_id(eider):
    uid = eider.create_user("bob")
    inbox = inbox_of(eider, uid)
    stream = EventStream(eider.api_url + f"/users/{uid}/updates")
    eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages", {"raw": base64.b64encode(RAW).decode()})
    first = stream.until(lambda e: e["data"]["command"] == "EXISTS", 2.0)
    stream.close()
    # Changes made while disconnected are replayed after the given id, by header or query.
    eider.api("POST", f"/users/{uid}/mailboxes/{inbox}/messages", {"raw": base64.b64encode(RAW).decode()})
    eider.api("PUT", f"/users/{uid}/mailboxes/{inbox}/messages/1", {"flagged": True})
    for stream in (EventStream(eider.api_url + f"/users/{uid}/updates", {"Last-Event-ID": first["id"]}),
                   EventStream(eider.api_url + f"/users/{uid}/updates?Last-Event-ID={first['id']}")):
        try:
            ev = stream.until(lambda e: e["data"]["command"] == "EXISTS", 2.0)
            assert ev["data"]["uid"] == 2 and int(ev["id"]) > int(first["id"])
            ev = stream.until(lambda e: e["data"]["command"] == "FETCH", 2.0)
            assert ev["data"]["uid"] == 1
        finally:
            stream.close()


def test_stream_errors(eider):
    uid = eider.create_user("carol")
    status, body = eider.api("GET", f"/users/{'0' * 24}/updates")
    assert (status, body["code"]) == (404, "UserNotFound")
    status, body = eider.api("GET", f"/users/{uid}/updates?Last-Event-ID=abc")
    assert (status, body["code"]) == (400, "InputValidationError")
    other = eider.create_user("dave", password="dave-pass")
    _, auth = eider.api("POST", "/authenticate", {"username": "dave", "password": "dave-pass", "token": True})
    status, body = eider.api("GET", f"/users/{uid}/updates", token=auth["token"])
    assert (status, body["code"]) == (403, "MissingPrivileges")
    # a user token may follow its own stream, with "me"
    stream = EventStream(eider.api_url + f"/users/me/updates?accessToken={auth['token']}")
    try:
        inbox = inbox_of(eider, other)
        eider.api("POST", f"/users/{other}/mailboxes/{inbox}/messages", {"raw": base64.b64encode(RAW).decode()})
        stream.until(lambda e: e["data"]["command"] == "EXISTS", 1.0)
    finally:
        stream.close()


def test_server_stops_with_open_streams(start_eider):
    server = start_eider()
    uid = server.create_user("erin")
    stream = EventStream(server.api_url + f"/users/{uid}/updates")
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 4
    stream.close()
