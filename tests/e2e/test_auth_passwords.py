"""Password hashes: every format POST /users accepts with hashedPassword verifies
with its stored parameters and is rehashed to argon2id on the first successful
login; unsupported hashes are refused; a burst of logins is hashed on a bounded
pool (the server's peak memory stays far below one argon2 buffer per login)."""

import re
import threading
import time

import pytest

from auth_util import authenticate, imap_login

# (password, hash) made by other implementations (see auth/src/password.rs).
VECTORS = {
    "argon2i": ("test", "$argon2i$v=19$m=16,t=2,p=1$SFpGczI1bWV1RVRpYjNYaw$EBE/WnOGeWint3eQ+SQ7Sg"),
    "argon2i-ref": ("password", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"),
    "pbkdf2-sha256": ("correct horse", "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ"),
    "pbkdf2-sha512": ("correct horse", "$pbkdf2-sha512$i=1000$AAECAwQFBgcICQoLDA0ODw$Xpx07WjVx4vCIvrmBRj8uOoVVtGqJqtUv2J5bhizSQs7osCteF7W4A61dZDqSIqQjO+dxO6p5FT/Uy7QRBXSXA"),
    "pbkdf2-sha1": ("correct horse", "$pbkdf2-sha1$i=1000$AAECAwQFBgcICQoLDA0ODw$ndhWw3a4srcTtr4HQFTLiKRlVuA"),
    "bcrypt-2a": ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "bcrypt-2b": ("U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "bcrypt-2y": ("U*U", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "md5-crypt": ("password", "$1$saltstri$qQY4WxjABChYG1ccLpfkz/"),
    "sha256-crypt": ("correct horse", "$5$rounds=5000$usesomesillystri$Nug0sruWJxA8ePkY1nlJaF/4sgRaCVoH0E3Rocn4qO2"),
    "sha512-crypt": ("correct horse", "$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0"),
    "des-crypt": ("password", "abJnggxhB/yWI"),
}


def wait_for_log(server, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(re.search(pattern, line) for line in server.log_lines):
            return True
        time.sleep(0.05)
    return False


def test_every_format_verifies_and_is_rehashed(eider):
    for name, (password, hashed) in VECTORS.items():
        username = "hash" + name.replace("-", "")
        uid = eider.create_user(username, password=hashed, hashedPassword=True)
        status, body = authenticate(eider, username, "not the password")
        assert status == 403 and body["code"] == "AuthFailed", (name, body)
        status, body = authenticate(eider, username, password)
        assert status == 200 and body["id"] == uid, (name, body)
        assert wait_for_log(eider, rf"password rehashed to argon2id.*{uid}|{uid}.*password rehashed to argon2id"), name
        # The new argon2id hash keeps working, on every protocol.
        status, body = authenticate(eider, username, password)
        assert status == 200, (name, body)
        ok, client = imap_login(eider, username, password)
        assert ok, (name, client)
        client.logout()
    rehashes = [l for l in eider.log_lines if "password rehashed to argon2id" in l]
    assert len(rehashes) == len(VECTORS)


def test_argon2id_is_not_rehashed(eider):
    eider.create_user("plainuser", password="a fine password")
    status, _ = authenticate(eider, "plainuser", "a fine password")
    assert status == 200
    time.sleep(0.3)
    assert not any("password rehashed" in l for l in eider.log_lines)


@pytest.mark.parametrize("bad", [
    "plaintext",
    "$unknown$abc",
    "abhfCpXqd4Gr!",  # 13 characters, but not of the DES crypt alphabet
    "$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  # cost beyond the bound
    "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",  # 4 GiB
])
def test_unsupported_hashes_are_refused(eider, bad):
    status, body = eider.api("POST", "/users", {"username": "badhash", "password": bad, "hashedPassword": True})
    assert status == 400 and body["code"] == "InputValidationError", body


def test_password_change_and_reset(eider):
    uid = eider.create_user("changer", password="first password")
    status, body = eider.api("PUT", f"/users/{uid}", {"password": "second password"})
    assert status == 200, body
    assert authenticate(eider, "changer", "first password")[0] == 403
    assert authenticate(eider, "changer", "second password")[0] == 200
    status, body = eider.api("PUT", f"/users/{uid}", {"password": VECTORS["md5-crypt"][1], "hashedPassword": True})
    assert status == 200, body
    assert authenticate(eider, "changer", "password")[0] == 200
    status, body = eider.api("POST", f"/users/{uid}/password/reset", {})
    assert status == 200, body
    status, auth = authenticate(eider, "changer", body["password"])
    assert status == 200 and auth["requirePasswordChange"] is True


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_login_burst_memory_is_bounded(eider):
    """200 simultaneous logins: unbounded, each argon2id verification would hold
    19 MiB at once (~3.8 GB); on the bounded pool the peak stays small."""
    eider.create_user("burst", password="burst password")
    before = vm_hwm_kib(eider.proc.pid)
    results = []

    def login():
        results.append(authenticate(eider, "burst", "burst password")[0])

    threads = [threading.Thread(target=login) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results.count(200) == 200, results
    peak = vm_hwm_kib(eider.proc.pid)
    # At most 4 argon2 working areas (19 MiB each) plus request buffers.
    assert peak - before < 120 * 1024, (before, peak)
