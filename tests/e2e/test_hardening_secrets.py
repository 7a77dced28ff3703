"""Secrets at rest and at start: the store is created owner-only (directory 0700,
files 0600, the TLS key too), TOTP seeds are encrypted in the database with the
configured key, and the root API secret can come from a file instead of the
command line (where `ps` shows it)."""

import stat
import time

import pytest

from auth_util import authenticate, totp


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_store_is_created_owner_only(eider):
    eider.create_user("someone", password="a password")
    data = eider.data_dir
    assert mode(data) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "eider.sqlite3" for p in files), files
    assert any(p.name == "selfsigned.key" for p in files), files
    assert any(p.name == "secret.key" for p in files), "the generated TOTP key"
    for p in files:
        if p.suffix == ".crt":
            continue  # a certificate is public
        assert mode(p) & 0o077 == 0, (p, oct(mode(p)))
    for p in data.rglob("*"):
        if p.is_dir():
            assert mode(p) == 0o700, (p, oct(mode(p)))


def database_bytes(server):
    """Everything SQLite keeps on disk: the database file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in server.data_dir.glob("eider.sqlite3*"))


@pytest.mark.parametrize("key_args", [
    ["--set", 'totp.secret="a secret cat"'],
    [],  # no secret configured: the key generated under storage.path
], ids=["configured", "generated"])
def test_totp_seeds_are_encrypted_at_rest(start_eider, key_args):
    server = start_eider(extra_args=key_args)
    uid = server.create_user("seeded", password="master password")
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/setup", {})
    assert status == 200, body
    seed = body["seed"]
    assert seed.encode() not in database_bytes(server), "the pending seed is sealed"
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/enable", {"token": totp(seed)})
    assert status == 200, body
    assert seed.encode() not in database_bytes(server), "the enabled seed is sealed"
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/check", {"token": totp(seed, time.time() + 30)})
    assert status == 200, body

    # Across a restart with the same key the seed still opens.
    data_dir = server.data_dir
    assert server.stop() == 0
    again = start_eider(data_dir=data_dir, extra_args=key_args)
    status, body = again.api("POST", f"/users/{uid}/2fa/totp/check", {"token": totp(seed, time.time() - 30)})
    assert status == 200, body


def test_root_secret_from_a_file(start_eider, tmp_path):
    secret_file = tmp_path / "root-secret"
    secret_file.write_text("from-a-file-0123456789\n")
    server = start_eider(extra_args=[
        "--set", "api.accessControl.enabled=true",
        "--set", f'api.accessControl.secretFile="{secret_file}"',
    ])
    status, body = server.api("GET", "/users")
    assert status == 401 or status == 403, (status, body)
    status, body = server.api("GET", "/users", token="from-a-file-0123456789")
    assert status == 200, body
    # Not on the command line, where any local user could read it.
    assert "from-a-file" not in " ".join(server.proc.args)


def test_root_secret_from_the_environment(start_eider):
    server = start_eider(
        extra_args=["--set", "api.accessControl.enabled=true"],
        env={"EIDER_API__ACCESSCONTROL__SECRET": "from-the-environment"},
    )
    assert server.api("GET", "/users")[0] in (401, 403)
    assert server.api("GET", "/users", token="from-the-environment")[0] == 200
