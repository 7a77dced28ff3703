"""Logins under attack: imported hashes above the configured cost are refused, one
user's slow hash cannot take the whole hashing pool, a disabled account costs the
same hashing work as any failed login, and a source IP over its failure limit still
lets a clean user's correct password through (users behind one NAT)."""

import base64
import hashlib
import threading

import pytest

from auth_util import authenticate, imap_login

# ~0.5 s per check on a debug build, several times an argon2id login.
SLOW_ITERATIONS = 100_000


def pbkdf2_sha512(password, iterations):
    """A hash as WildDuck's @phc/pbkdf2 writes it."""
    salt = b"0123456789abcdef"
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = lambda raw: base64.b64encode(raw).decode().rstrip("=")
    return f"$pbkdf2-sha512$i={iterations}${b64(salt)}${b64(key)}"


BCRYPT_14 = "$2b$14$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


@pytest.mark.parametrize("costly", [
    BCRYPT_14,
    pbkdf2_sha512("x", 2_000_000),
    "$6$rounds=2000000$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0",
    "$argon2id$v=19$m=131072,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
])
def test_costly_imported_hashes_are_refused(eider, costly):
    status, body = eider.api("POST", "/users", {"username": "costly", "password": costly, "hashedPassword": True})
    assert status == 400 and body["code"] == "InputValidationError", body
    uid = eider.create_user("cheap", password="first password")
    status, body = eider.api("PUT", f"/users/{uid}", {"password": costly, "hashedPassword": True})
    assert status == 400 and body["code"] == "InputValidationError", body
    # A hash within the limits is taken and works.
    status, body = eider.api("PUT", f"/users/{uid}", {"password": pbkdf2_sha512("legacy", 25_000), "hashedPassword": True})
    assert status == 200, body
    assert authenticate(eider, "cheap", "legacy")[0] == 200


def test_import_limit_is_configurable(start_eider):
    server = start_eider(extra_args=["--set", "auth.importedHashes.bcryptCost=14"])
    status, body = server.api("POST", "/users", {"username": "b14", "password": BCRYPT_14, "hashedPassword": True})
    assert status == 200, body


def run_logins(server, logins, order, lock, first_done):
    """Start each (label, username, password) login in a thread; record answers in order."""
    threads = []
    for label, username, password in logins:
        def go(label=label, username=username, password=password):
            status, _ = authenticate(server, username, password)
            with lock:
                order.append((label, status))
            first_done.set()
        t = threading.Thread(target=go)
        t.start()
        threads.append(t)
    return threads


def test_one_users_slow_hash_holds_one_pool_thread(start_eider):
    server = start_eider(extra_args=["--set", "auth.hashConcurrency=2"])
    server.create_user("slowhash", password=pbkdf2_sha512("slow", SLOW_ITERATIONS), hashedPassword=True)
    server.create_user("quick", password="quick password")
    order, lock, first_done = [], threading.Lock(), threading.Event()
    threads = run_logins(server, [("slow", "slowhash", f"wrong {i}") for i in range(4)], order, lock, first_done)
    # Once one slow check is done, the others of that user wait for their turn; a
    # login of another user is not queued behind them.
    assert first_done.wait(30)
    status, _ = authenticate(server, "quick", "quick password")
    with lock:
        order.append(("quick", status))
    for t in threads:
        t.join(60)
    labels = [label for label, _ in order]
    assert ("quick", 200) in order
    assert labels.index("quick") == 1, labels
    assert all(s == 403 for label, s in order if label == "slow"), order


def test_disabled_account_fails_through_the_hashing_pool(start_eider):
    """Refusing a disabled account without hashing answers it faster than any other
    failed login. With one hashing thread busy, its answer must wait its turn."""
    server = start_eider(extra_args=["--set", "auth.hashConcurrency=1"])
    for i in range(3):
        server.create_user(f"busy{i}", password=pbkdf2_sha512("slow", SLOW_ITERATIONS), hashedPassword=True)
    uid = server.create_user("gone", password="gone password")
    status, body = server.api("PUT", f"/users/{uid}", {"disabled": True})
    assert status == 200, body
    order, lock, first_done = [], threading.Lock(), threading.Event()
    threads = run_logins(server, [("slow", f"busy{i}", "wrong") for i in range(3)], order, lock, first_done)
    assert first_done.wait(30)
    # Two slow checks are running or queued on the single thread now.
    status, body = authenticate(server, "gone", "gone password")
    assert status == 403 and body["code"] == "AuthFailed", body
    with lock:
        order.append(("disabled", status))
    for t in threads:
        t.join(60)
    labels = [label for label, _ in order]
    assert labels.index("disabled") >= 2, labels


def test_ip_limit_spares_clean_users(start_eider):
    server = start_eider(extra_args=["--set", "auth.ipFailures=10", "--set", "auth.ipWindow=300"])
    server.create_user("clean", password="clean password")
    server.create_user("other", password="other password")
    server.create_user("dirty", password="dirty password")
    ok, _ = imap_login(server, "dirty", "a wrong guess")
    assert not ok
    for i in range(12):
        ok, answer = imap_login(server, f"nobody{i}", "guess")
        assert not ok
    assert "UNAVAILABLE" in answer, "the source IP is over its limit"

    # A user without failures of its own gets through with the right password...
    ok, client = imap_login(server, "clean", "clean password")
    assert ok, client
    client.logout()
    # ...a wrong one is refused as rate limited, and then that user is held back too.
    ok, answer = imap_login(server, "other", "wrong password")
    assert not ok and "UNAVAILABLE" in answer, answer
    ok, answer = imap_login(server, "other", "other password")
    assert not ok and "UNAVAILABLE" in answer, answer
    # A user with a recent failure stays blocked, even with the right password.
    ok, answer = imap_login(server, "dirty", "dirty password")
    assert not ok and "UNAVAILABLE" in answer, answer


def test_ip_limit_for_everyone_when_configured(start_eider):
    server = start_eider(extra_args=[
        "--set", "auth.ipFailures=5", "--set", "auth.ipLimitSparesCleanUsers=false",
    ])
    server.create_user("clean", password="clean password")
    for i in range(5):
        assert not imap_login(server, f"nobody{i}", "guess")[0]
    ok, answer = imap_login(server, "clean", "clean password")
    assert not ok and "UNAVAILABLE" in answer, answer
