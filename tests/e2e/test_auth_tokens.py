"""Access tokens from POST /authenticate: revocable (DELETE /authenticate), kept
across restarts (stored hashed), revoked for a user by PUT /users/{user}/logout,
which also ends the user's IMAP sessions, idle or not."""

import socket

from auth_util import authenticate, imap_login


def test_token_revocation(eider):
    uid = eider.create_user("tokenuser", password="master password")
    status, body = authenticate(eider, "tokenuser", "master password", token=True)
    assert status == 200 and len(body["token"]) == 64 and body["require2fa"] is False
    token = body["token"]
    status, body = eider.api("GET", "/users/me", token=token)
    assert status == 200 and body["id"] == uid
    status, body = eider.api("DELETE", "/authenticate", token=token)
    assert status == 200
    status, body = eider.api("GET", "/users/me", token=token)
    assert status == 403 and body["code"] == "InvalidToken"
    status, body = authenticate(eider, "tokenuser", "master password", token=True, scope="imap")
    assert status == 400, "tokens only for the master scope"


def test_tokens_survive_restart(start_eider, tmp_path):
    data = tmp_path / "persist"
    server = start_eider(data_dir=data)
    uid = server.create_user("persist", password="master password")
    token = authenticate(server, "persist", "master password", token=True)[1]["token"]
    assert server.stop() == 0
    again = start_eider(data_dir=data)
    status, body = again.api("GET", "/users/me", token=token)
    assert status == 200 and body["id"] == uid
    # Only the hash is stored.
    raw = (data / "eider.sqlite3").read_bytes() + b"".join(
        p.read_bytes() for p in data.glob("eider.sqlite3-wal") if p.exists())
    assert token.encode() not in raw


def raw_imap(server):
    sock = socket.create_connection(server.hostport("IMAP"), timeout=15)
    f = sock.makefile("rb")
    f.readline()
    return sock, f


def test_logout_revokes_tokens_and_ends_imap_sessions(eider):
    uid = eider.create_user("kicked", password="master password")
    token = authenticate(eider, "kicked", "master password", token=True)[1]["token"]

    # One session idling, one waiting between commands.
    idler, idle_file = raw_imap(eider)
    idler.sendall(b"a LOGIN kicked \"master password\"\r\n")
    assert idle_file.readline().startswith(b"a OK")
    idler.sendall(b"b SELECT INBOX\r\n")
    while not idle_file.readline().startswith(b"b "):
        pass
    idler.sendall(b"c IDLE\r\n")
    assert idle_file.readline().startswith(b"+")
    ok, waiting = imap_login(eider, "kicked", "master password")
    assert ok

    status, body = eider.api("PUT", f"/users/{uid}/logout", {"reason": "Password compromised"})
    assert status == 200 and body == {"success": True}

    lines = []
    while True:
        line = idle_file.readline()
        if not line:
            break
        lines.append(line)
    assert any(l.startswith(b"* BYE") for l in lines), lines
    # The other session was closed too: its socket reads BYE then EOF.
    waiting.sock.settimeout(10)
    rest = b""
    while True:
        chunk = waiting.sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    assert b"* BYE" in rest, rest

    status, body = eider.api("GET", "/users/me", token=token)
    assert status == 403 and body["code"] == "InvalidToken"
    # New logins work again.
    ok, client = imap_login(eider, "kicked", "master password")
    assert ok
    client.logout()
