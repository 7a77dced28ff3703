"""Helpers for the IMAP end-to-end tests: imaplib sessions and a raw line client
for exchanges imaplib cannot express."""

import imaplib
import re
import socket
import ssl
import time

PASSWORD = "secret-pass"

SIMPLE = (
    b"From: Bob Example <bob@example.com>\r\n"
    b"To: Alice <alice@example.com>\r\n"
    b"Cc: carol@example.com\r\n"
    b"Subject: Hello there\r\n"
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    b"Message-ID: <simple@example.com>\r\n"
    b"X-Custom: Special-Value\r\n"
    b"\r\n"
    b"Hello Alice,\r\n"
    b"this is the body with a Needle inside.\r\n"
)

MULTIPART = (
    b"From: Dave <dave@example.org>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"
    b"Date: Tue, 8 Feb 1994 10:00:00 +0000\r\n"
    b"Message-ID: <multi@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Caf=C3=A9 au lait, first part.\r\n"
    b"--XYZ\r\n"
    b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    b"Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQFBgcICQ==\r\n"
    b"--XYZ\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.net\r\n"
    b"Subject: Inner message\r\n"
    b"\r\n"
    b"Inner body.\r\n"
    b"--XYZ--\r\n"
)


def make_message(i, subject=None, body=None, sender="sender@example.com"):
    subject = subject or f"Message number {i}"
    body = body or f"Body of message {i}."
    return (
        f"From: {sender}\r\nTo: alice@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <m{i}.{time.time_ns()}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


def login(eider, user="alice", create=True, password=PASSWORD):
    if create:
        eider.create_user(user, password)
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    typ, _ = m.login(user, password)
    assert typ == "OK"
    return m


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


def fetch_map(data):
    """Flatten imaplib FETCH data into one bytes blob per response."""
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append(item[0] + b"\x00" + item[1])
        elif item not in (b")",):
            out.append(item)
    return out


class Raw:
    """A line-oriented IMAP client over a plain or TLS socket."""

    def __init__(self, host, port, tls=False, timeout=10):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = b""
        self.greeting = self.readline()
        self.n = 0

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response_line(self):
        """One response line with any literals inlined."""
        line = self.readline()
        while True:
            m = re.search(rb"~?\{(\d+)\}$", line)
            if not m:
                return line
            n = int(m.group(1))
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed in literal")
                self.buf += chunk
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.readline()

    def until_tagged(self, tag):
        lines = []
        while True:
            line = self.read_response_line()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines

    def cmd(self, text, tag=None):
        """Send `tag text` and return all lines up to and including the tagged one."""
        self.n += 1
        tag = tag or f"r{self.n}"
        self.send(f"{tag} {text}\r\n".encode() if isinstance(text, str) else tag.encode() + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_login(eider, user="alice", create=True, tls=False, name="IMAP"):
    if create:
        eider.create_user(user, PASSWORD)
    host, port = eider.hostport(name)
    r = Raw(host, port, tls=tls)
    lines = r.cmd(f"LOGIN {user} {PASSWORD}")
    assert lines[-1].split()[1] == b"OK", lines
    return r


def tagged(lines):
    """(status, text) of the tagged line."""
    parts = lines[-1].split(b" ", 2)
    return parts[1].decode(), parts[2].decode(errors="replace") if len(parts) > 2 else ""
