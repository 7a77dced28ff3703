"""Helpers for the authentication end-to-end tests: TOTP codes computed from a
seed (RFC 6238), IMAP and POP3 login attempts that report the server's answer."""

import base64
import hashlib
import hmac
import imaplib
import poplib
import struct
import time


def totp(seed, at=None):
    """The 6-digit code of a base32 seed at time `at` (default now)."""
    key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 15
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def imap_login(server, username, password):
    """(True, client) on success, else (False, server answer text)."""
    host, port = server.hostport("IMAP")
    client = imaplib.IMAP4(host, port, timeout=30)
    try:
        client.login(username, password)
        return True, client
    except imaplib.IMAP4.error as e:
        try:
            client.logout()
        except Exception:
            pass
        return False, str(e)


def pop3_login(server, username, password):
    """(True, client) on success, else (False, server answer text)."""
    host, port = server.hostport("POP3")
    client = poplib.POP3(host, port, timeout=30)
    try:
        client.user(username)
        client.pass_(password)
        return True, client
    except poplib.error_proto as e:
        try:
            client.quit()
        except Exception:
            pass
        return False, e.args[0].decode() if isinstance(e.args[0], bytes) else str(e)


def authenticate(server, username, password, **fields):
    return server.api("POST", "/authenticate", {"username": username, "password": password, **fields})
