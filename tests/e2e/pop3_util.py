"""Helpers for the POP3 end-to-end tests: a byte-exact raw POP3 client, a byte-exact
IMAP APPEND (imaplib rewrites line endings, so it cannot put fixtures in unchanged),
and mailbox inspection through IMAP."""

import base64
import imaplib
import re
import socket

PASSWORD = "secret-pass"


class RawPop3:
    """A POP3 client over a plain socket that keeps every byte the server sends."""

    def __init__(self, hostport, timeout=15, sock=None):
        self.sock = sock or socket.create_connection(hostport, timeout=timeout)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """One line with its line ending; b"" at EOF."""
        return self.file.readline(1 << 20)

    def status(self):
        line = self.line()
        assert line.endswith(b"\r\n"), line
        return line[:-2]

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.status()

    def multiline_raw(self):
        """The body of a multi-line answer as sent (still dot-stuffed), without the terminator."""
        out = []
        while True:
            line = self.line()
            if line == b"":
                raise EOFError("connection closed inside a multi-line answer")
            if line == b".\r\n":
                return b"".join(out)
            out.append(line)

    def multiline(self):
        """The body of a multi-line answer with dot-stuffing removed."""
        return unstuff(self.multiline_raw())

    def login(self, user, password=PASSWORD):
        assert self.cmd(f"USER {user}").startswith(b"+OK")
        status = self.cmd(f"PASS {password}")
        assert status.startswith(b"+OK"), status
        return status

    def close(self):
        try:
            self.file.close()
        finally:
            self.sock.close()


def split_lines(data):
    """Lines as POP3 sees them: each ends with LF (the last one may be open)."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unstuff(data):
    """Undo RFC 1939 byte-stuffing: one leading dot per line is removed."""
    return b"".join(l[1:] if l.startswith(b".") else l for l in split_lines(data))


def as_sent(raw):
    """What a client reconstructs from a RETR of `raw`: CRLF added when the last line is open."""
    return raw if raw.endswith(b"\n") or raw == b"" else raw + b"\r\n"


def plain_response(user, password=PASSWORD, authzid=""):
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


class RawImap:
    """Just enough IMAP to APPEND exact bytes (imaplib normalizes line endings)."""

    def __init__(self, hostport, user, password=PASSWORD):
        self.sock = socket.create_connection(hostport, timeout=30)
        self.file = self.sock.makefile("rb")
        self.n = 0
        self.file.readline()
        self._simple(f'LOGIN "{user}" "{password}"')

    def _tag(self):
        self.n += 1
        return f"a{self.n}"

    def _finish(self, tag):
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("IMAP connection closed")
            if line.startswith(tag.encode() + b" "):
                assert line.split()[1] == b"OK", line
                return line

    def _simple(self, command):
        tag = self._tag()
        self.sock.sendall(f"{tag} {command}\r\n".encode())
        return self._finish(tag)

    def append(self, raw, mailbox="INBOX", flags=""):
        tag = self._tag()
        flag_part = f" ({flags})" if flags else ""
        self.sock.sendall(f'{tag} APPEND "{mailbox}"{flag_part} {{{len(raw)}}}\r\n'.encode())
        line = self.file.readline()
        assert line.startswith(b"+"), line
        self.sock.sendall(raw + b"\r\n")
        return self._finish(tag)

    def close(self):
        try:
            self._simple("LOGOUT")
        except (OSError, EOFError, AssertionError):
            pass
        self.sock.close()


def deliver(eider, user, messages, mailbox="INBOX"):
    """Put raw messages (bytes) into a mailbox, byte-exact, in order."""
    imap = RawImap(eider.hostport("IMAP"), user)
    try:
        for raw in messages:
            imap.append(raw, mailbox)
    finally:
        imap.close()


def imap_session(eider, user, password=PASSWORD):
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    m.login(user, password)
    return m


def mailbox_state(eider, user, mailbox="INBOX"):
    """[(subject, flags)] of a mailbox in UID order, read through IMAP."""
    m = imap_session(eider, user)
    try:
        typ, count = m.select(f'"{mailbox}"', readonly=True)
        assert typ == "OK", count
        if int(count[0]) == 0:
            return []
        typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, header = item
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
            subject = re.search(rb"Subject: ?(.*?)\r?\n", header)
            out.append(
                (
                    subject.group(1).decode() if subject else "",
                    # \Recent is IMAP session state, not something POP3 changes.
                    set(flags.group(1).decode().split()) - {"\\Recent"} if flags else set(),
                )
            )
        return out
    finally:
        m.logout()


def simple_message(subject, body="Hello.\r\n", extra=""):
    return (
        f"From: sender@example.com\r\nTo: rcpt@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@e2e.example>\r\n{extra}\r\n{body}"
    ).encode()
