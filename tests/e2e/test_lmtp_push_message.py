"""`eider push-message <address> [file.eml]`: deliver a file, or a generated
test message, over LMTP to the configured listener (like WildDuck's
examples/push-message.js)."""

import subprocess

from conftest import BINARY
from lmtp_support import delivered, make_message, messages, user


def push(server, *args):
    host, port = server.hostport("LMTP")
    return subprocess.run(
        [str(BINARY), "push-message", "--set", f'lmtp.host="{host}"', "--set", f"lmtp.port={port}", *args],
        capture_output=True, text=True, timeout=60,
    )


def test_push_a_file(eider, tmp_path):
    uid = user(eider, "pushed")
    msg = make_message(subject="Pushed file", body="line one\r\n.\r\n..two\r\n")
    path = tmp_path / "message.eml"
    path.write_bytes(msg)
    run = push(eider, "Pushed@Example.com", str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Pushed@Example.com: 250" in run.stdout
    assert messages(eider, uid, username="pushed") == [delivered("Pushed@Example.com", msg)]


def test_push_a_generated_message_to_several(eider):
    a = user(eider, "gen-a")
    b = user(eider, "gen-b")
    run = push(eider, "gen-a@example.com,gen-b@example.com", "--from", "tester@example.org")
    assert run.returncode == 0, run.stdout + run.stderr
    for uid, name in ((a, "gen-a"), (b, "gen-b")):
        [raw] = messages(eider, uid, username=name)
        assert b"From: <tester@example.org>" in raw
        assert b"Subject: Test message" in raw


def test_refused_recipient_fails(eider):
    run = push(eider, "nobody@example.com")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "nobody@example.com: 550" in run.stdout
    run = push(eider, "x@example.com", "/nonexistent/file.eml")
    assert run.returncode == 2
    assert "cannot read" in run.stderr
