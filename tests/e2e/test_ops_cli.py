"""The admin CLI works on the store without the HTTP API, next to a running server."""

import imaplib
import json
import urllib.request

from lmtp_support import deliver, make_message
from ops_util import cli, cli_json


def imap_login(eider, user, password):
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    try:
        m.login(user, password)
    except imaplib.IMAP4.error:
        m.shutdown()
        return None
    return m


def test_cli_user_lifecycle_next_to_a_running_server(start_eider, tmp_path):
    data = tmp_path / "data"
    eider = start_eider(data)

    # Created while `eider serve` runs on the same store; the password comes on stdin.
    out = cli_json(data, "user", "create", "carol", "--address", "carol@example.com", input="pw-one-1234\n")
    assert out["success"] and out["user"]["username"] == "carol"
    uid = out["id"]

    m = imap_login(eider, "carol", "pw-one-1234")
    assert m is not None, "the CLI-created user cannot log in over IMAP"
    m.logout()

    listed = cli_json(data, "user", "list")
    assert [u["username"] for u in listed["results"]] == ["carol"]
    shown = cli_json(data, "user", "show", "carol@example.com")
    assert shown["id"] == uid and "carol@example.com" in shown["addresses"]
    text = cli(data, "user", "show", uid)
    assert text.returncode == 0 and b"carol" in text.stdout

    # A service error: its message and code, exit status 1.
    dup = cli(data, "user", "create", "carol", "--password", "whatever-123")
    assert dup.returncode == 1
    assert b"UserExistsError" in dup.stderr
    dup_json = cli(data, "--json", "user", "create", "carol", "--password", "whatever-123")
    assert dup_json.returncode == 1 and json.loads(dup_json.stdout)["code"] == "UserExistsError"
    # Bad usage: exit status 2.
    assert cli(data, "user", "frobnicate").returncode == 2

    assert cli(data, "user", "passwd", "carol", input="pw-two-5678\n").returncode == 0
    assert imap_login(eider, "carol", "pw-one-1234") is None
    m = imap_login(eider, "carol", "pw-two-5678")
    assert m is not None
    m.logout()

    added = cli_json(data, "address", "add", "carol", "alias@example.com")
    assert added["success"]
    _, replies = deliver(eider, ["alias@example.com"], make_message(subject="to the alias"))
    assert replies and replies[0][0] == 250, replies
    boxes = cli_json(data, "mailbox", "list", "carol")
    inbox = [b for b in boxes["results"] if b["path"] == "INBOX"][0]
    assert inbox["total"] == 1
    assert cli(data, "address", "remove", "alias@example.com").returncode == 0
    gone = cli(data, "address", "remove", "alias@example.com")
    assert gone.returncode == 1 and b"AddressNotFound" in gone.stderr

    token = cli_json(data, "token", "carol")["token"]
    req = urllib.request.Request(eider.api_url + f"/users/{uid}", headers={"X-Access-Token": token})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["username"] == "carol"

    assert cli(data, "user", "disable", "carol").returncode == 0
    assert imap_login(eider, "carol", "pw-two-5678") is None
    assert cli(data, "user", "disable", "carol", "--enable").returncode == 0
    m = imap_login(eider, "carol", "pw-two-5678")
    assert m is not None
    m.logout()

    assert cli(data, "user", "delete", "carol").returncode == 0
    missing = cli(data, "user", "show", "carol")
    assert missing.returncode == 1 and b"UserNotFound" in missing.stderr


def test_cli_root_token_is_the_configured_secret(tmp_path):
    data = tmp_path / "data"
    none = cli(data, "token", "--root")
    assert none.returncode == 2 and b"secretFile" in none.stderr
    secret = tmp_path / "root-secret"
    secret.write_text("s3cret-root-token\n")
    res = cli(data, "token", "--root", extra=("--set", f"api.accessControl.secretFile={json.dumps(str(secret))}"))
    assert res.returncode == 0 and res.stdout.strip() == b"s3cret-root-token"
