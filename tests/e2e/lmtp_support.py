"""Helpers for the LMTP end-to-end tests: an LMTP client that reads every
per-recipient reply (smtplib.LMTP reads only the first), message builders, and
reading delivered messages back through the API (or IMAP when the API has no
message routes)."""

import imaplib
import smtplib
import socket
import time
import uuid


def connect(eider, timeout=30):
    host, port = eider.hostport("LMTP")
    client = smtplib.LMTP(host, port, timeout=timeout)
    code, _ = client.ehlo("client.test")
    assert code == 250
    return client


def transaction(client, sender, rcpts, message, mail_options=()):
    """One LMTP transaction. Returns (rcpt replies, data replies): a (code, text)
    per RCPT, and after DATA one (code, text) per accepted recipient, in order."""
    code, text = client.mail(sender, list(mail_options))
    assert code == 250, (code, text)
    rcpt_replies = [client.rcpt(r) for r in rcpts]
    accepted = sum(1 for code, _ in rcpt_replies if code == 250)
    if not accepted:
        client.rset()
        return rcpt_replies, []
    if isinstance(message, str):
        message = message.encode("utf-8")
    first = client.data(message)
    data_replies = [first] + [client.getreply() for _ in range(accepted - 1)]
    return rcpt_replies, data_replies


def deliver(eider, rcpts, message, sender="sender@example.org", mail_options=()):
    client = connect(eider)
    try:
        return transaction(client, sender, rcpts, message, mail_options)
    finally:
        client.quit()


def make_message(subject="Hello", body="Hello there.\r\n", message_id=None, headers=()):
    """A CRLF message whose bytes the tests compare with what is stored."""
    message_id = message_id or f"<{uuid.uuid4().hex}@example.org>"
    lines = [
        "From: Sender <sender@example.org>",
        "To: Someone <someone@example.com>",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Mon, 01 Jan 2024 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def delivered(rcpt, message):
    """What delivery stores for `rcpt`: its Delivered-To line, then the received bytes."""
    return b"Delivered-To: " + rcpt.encode() + b"\r\n" + message


def user(eider, username, address=None, **fields):
    """Create a user with an address; returns its id."""
    return eider.create_user(username, address=address or f"{username}@example.com", **fields)


def _api_messages(eider, user_id, path):
    status, body = eider.api("GET", f"/users/{user_id}/mailboxes")
    if status != 200 or not isinstance(body, dict) or "results" not in body:
        return None
    mailbox = next((m for m in body["results"] if m.get("path") == path), None)
    assert mailbox is not None, f"no mailbox {path!r} in {body['results']}"
    out = []
    url = f"/users/{user_id}/mailboxes/{mailbox['id']}/messages?limit=250&order=asc"
    while url:
        status, page = eider.api("GET", url)
        if status == 404:
            return None
        assert status == 200, (status, page)
        for m in page["results"]:
            status, raw = eider.api(
                "GET",
                f"/users/{user_id}/mailboxes/{mailbox['id']}/messages/{m['id']}/message.eml",
                raw=True,
            )
            assert status == 200, (status, raw)
            out.append(raw)
        cursor = page.get("nextCursor")
        url = (
            f"/users/{user_id}/mailboxes/{mailbox['id']}/messages?limit=250&order=asc&next={cursor}"
            if cursor
            else None
        )
    return out


def _imap_messages(eider, username, password, path):
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=60)
    try:
        imap.login(username, password)
        typ, _ = imap.select(f'"{path}"', readonly=True)
        assert typ == "OK"
        typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [part[1] for part in data if isinstance(part, tuple)]
    finally:
        try:
            imap.logout()
        except Exception:  # noqa: BLE001 - best effort
            pass


def messages(eider, user_id, path="INBOX", username=None, password="secret-pass"):
    """Raw bytes of every message in a mailbox, oldest first."""
    via_api = _api_messages(eider, user_id, path)
    if via_api is not None:
        return via_api
    assert username, "the API has no message routes; IMAP needs the username"
    return _imap_messages(eider, username, password, path)


def wait_for(predicate, timeout=10, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def raw_exchange(eider, payload, expect_lines, timeout=10):
    """Send bytes on a fresh connection (after the greeting) and read until
    `expect_lines` final reply lines arrived. Returns the reply lines."""
    host, port = eider.hostport("LMTP")
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")
        greeting = f.readline()
        assert greeting.startswith(b"220 "), greeting
        s.sendall(payload)
        lines, finals = [], 0
        while finals < expect_lines:
            line = f.readline()
            assert line, f"connection closed after {lines}"
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if len(text) >= 4 and text[3] == " ":
                finals += 1
        return lines


class SmtpSink:
    """A minimal SMTP server standing in for the relay: records each message's
    envelope and bytes (dot-unstuffed). `refuse` makes it answer 451 to DATA."""

    def __init__(self, refuse=False):
        import socketserver
        import threading

        self.received = []
        self.refuse = refuse
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                out = self.wfile
                out.write(b"220 sink ESMTP\r\n")
                mail_from, rcpts = None, []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.rstrip(b"\r\n")
                    verb = cmd[:4].upper()
                    if verb == b"EHLO":
                        out.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    elif verb == b"MAIL":
                        mail_from = cmd[10:].split(b">")[0].lstrip(b"<").decode("utf-8")
                        rcpts = []
                        out.write(b"250 ok\r\n")
                    elif verb == b"RCPT":
                        rcpts.append(cmd[8:].split(b">")[0].lstrip(b"<").decode("utf-8"))
                        out.write(b"250 ok\r\n")
                    elif verb == b"DATA":
                        out.write(b"354 go\r\n")
                        data = bytearray()
                        while True:
                            dl = self.rfile.readline()
                            if not dl or dl == b".\r\n":
                                break
                            if dl.startswith(b"."):
                                dl = dl[1:]
                            data += dl
                        if sink.refuse:
                            out.write(b"451 try later\r\n")
                        else:
                            sink.received.append((mail_from, rcpts, bytes(data)))
                            out.write(b"250 queued\r\n")
                    elif verb == b"QUIT":
                        out.write(b"221 bye\r\n")
                        return
                    else:
                        out.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HttpSink:
    """Records JSON bodies POSTed to it."""

    def __init__(self):
        import http.server
        import json
        import threading

        self.received = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                sink.received.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def relay_args(sink):
    """Server arguments that send outbound mail (forwards, autoreplies, the API's
    submit and forward) to `sink`."""
    return ["--set", "relay.enabled=true", "--set", f"relay.port={sink.port}"]


def mailbox_ids(eider, user_id):
    """Mailbox path -> id of a user, through the API."""
    status, body = eider.api("GET", f"/users/{user_id}/mailboxes")
    assert status == 200, (status, body)
    return {m["path"]: m["id"] for m in body["results"]}
