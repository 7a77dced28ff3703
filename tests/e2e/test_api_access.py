"""HTTP API access control: the root secret, user access tokens from
POST /authenticate, X-Access-Token / accessToken / Bearer, and what a user
token may reach."""

import json
import urllib.error
import urllib.request

import pytest

SECRET = "root-secret-for-tests"


@pytest.fixture
def guarded(start_eider):
    return start_eider(extra_args=[
        "--set", "api.accessControl.enabled=true",
        "--set", f'api.accessControl.secret="{SECRET}"',
    ])


def request(server, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(server.api_url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def make_user(server, name, **fields):
    status, body = server.api("POST", "/users", {"username": name, "password": "pass-" + name, **fields}, token=SECRET)
    assert status == 200, body
    return body["id"]


def login(server, name):
    status, body = server.api("POST", "/authenticate",
                              {"username": name, "password": "pass-" + name, "token": True}, token=SECRET)
    assert status == 200, body
    return body["token"]


def test_requests_need_a_token(guarded):
    status, body = guarded.api("GET", "/users")
    assert (status, body["code"]) == (403, "InvalidToken")
    status, body = guarded.api("GET", "/users", token="wrong")
    assert (status, body["code"]) == (403, "InvalidToken")
    assert guarded.api("GET", "/users", token=SECRET)[0] == 200
    assert guarded.api("GET", f"/users?accessToken={SECRET}")[0] == 200
    assert request(guarded, "GET", "/users", headers={"Authorization": "Bearer " + SECRET})[0] == 200
    # Health and the API description stay public.
    assert guarded.api("GET", "/health")[0] == 200
    assert guarded.api("GET", "/openapi.json")[0] == 200


def test_user_tokens_act_for_their_user_only(guarded):
    alice = make_user(guarded, "alice", address="alice@example.com")
    bob = make_user(guarded, "bob", address="bob@example.com")
    token = login(guarded, "alice")
    assert len(token) >= 40
    status, me = guarded.api("GET", "/users/me", token=token)
    assert status == 200 and me["id"] == alice and "internalData" not in me
    assert guarded.api("GET", f"/users/{alice}", token=token)[0] == 200
    assert guarded.api("GET", f"/users/{alice}/mailboxes", token=token)[0] == 200
    assert guarded.api("GET", f"/users/me/addresses", token=token)[0] == 200
    for path in (f"/users/{bob}", f"/users/{bob}/mailboxes", f"/users/{bob}/addresses",
                 f"/users/{bob}/search", f"/users/{bob}/updates", "/users",
                 "/domainaliases", "/addresses/resolve/bob@example.com"):
        status, body = guarded.api("GET", path, token=token)
        assert (status, body["code"]) == (403, "MissingPrivileges"), path
    for method, path, body in (("POST", "/users", {"username": "eve", "password": "x"}),
                               ("DELETE", f"/users/{bob}", None),
                               ("PUT", f"/users/{bob}", {"name": "x"}),
                               ("POST", "/authenticate", {"username": "bob", "password": "pass-bob"}),
                               ("POST", "/domainaliases", {"alias": "a.example", "domain": "example.com"})):
        status, resp = guarded.api(method, path, body, token=token)
        assert (status, resp["code"]) == (403, "MissingPrivileges"), path
    # A user may not delete itself or reset its own password either.
    assert guarded.api("DELETE", f"/users/{alice}", token=token)[1]["code"] == "MissingPrivileges"


def test_logout_invalidates_the_token(guarded):
    make_user(guarded, "carol")
    token = login(guarded, "carol")
    assert guarded.api("GET", "/users/me", token=token)[0] == 200
    assert guarded.api("DELETE", "/authenticate", token=token) == (200, {"success": True})
    status, body = guarded.api("GET", "/users/me", token=token)
    assert (status, body["code"]) == (403, "InvalidToken")


def test_password_change_invalidates_tokens(guarded):
    uid = make_user(guarded, "dave")
    token = login(guarded, "dave")
    assert guarded.api("PUT", f"/users/{uid}", {"password": "another-pass"}, token=SECRET)[0] == 200
    status, body = guarded.api("GET", "/users/me", token=token)
    assert (status, body["code"]) == (403, "InvalidToken")


def test_authenticate_and_preauth(eider):
    uid = eider.create_user("erin", password="erin-password", address="erin@example.com")
    status, body = eider.api("POST", "/authenticate", {"username": "erin@example.com", "password": "erin-password"})
    assert status == 200
    assert body == {"success": True, "id": uid, "username": "erin", "address": "erin@example.com",
                    "scope": "master", "require2fa": False, "requirePasswordChange": False}
    status, body = eider.api("POST", "/authenticate", {"username": "erin", "password": "nope"})
    assert (status, body["code"]) == (403, "AuthFailed")
    status, body = eider.api("POST", "/authenticate", {"username": "nobody", "password": "nope"})
    assert (status, body["code"]) == (403, "AuthFailed")
    status, body = eider.api("POST", "/authenticate", {"username": "erin"})
    assert (status, body["code"]) == (400, "InputValidationError") and "password" in body["details"]
    status, body = eider.api("POST", "/authenticate",
                             {"username": "erin", "password": "erin-password", "scope": "imap", "token": True})
    assert (status, body["code"]) == (400, "InputValidationError")
    status, body = eider.api("POST", "/preauth", {"username": "erin", "scope": "imap"})
    assert status == 200 and body["id"] == uid and body["scope"] == "imap"
    assert eider.api("POST", "/preauth", {"username": "nobody"})[1]["code"] == "AuthFailed"
    eider.api("PUT", f"/users/{uid}", {"disabledScopes": ["imap"]})
    assert eider.api("POST", "/preauth", {"username": "erin", "scope": "imap"})[0] == 403
    status, body = eider.api("POST", "/authenticate",
                             {"username": "erin", "password": "erin-password", "scope": "imap"})
    assert (status, body["code"]) == (403, "AuthFailed")


def test_open_api_still_checks_given_tokens(eider):
    """With access control off, a request without a token is root, but a token
    that is given must be valid, and a user token still limits the request."""
    uid = eider.create_user("frank", password="frank-password")
    other = eider.create_user("grace")
    status, body = eider.api("GET", "/users", token="0" * 64)
    assert (status, body["code"]) == (403, "InvalidToken")
    _, auth = eider.api("POST", "/authenticate", {"username": "frank", "password": "frank-password", "token": True})
    token = auth["token"]
    assert eider.api("GET", "/users/me", token=token)[1]["id"] == uid
    assert eider.api("GET", f"/users/{other}", token=token)[1]["code"] == "MissingPrivileges"


def test_refuses_open_api_beyond_loopback(tmp_path):
    import subprocess
    from conftest import BINARY
    proc = subprocess.run([str(BINARY), "serve", "--set", f'storage.path="{tmp_path / "d"}"',
                           "--set", 'api.host="0.0.0.0"', "--set", "api.port=0", "--set", "imap.enabled=false",
                           "--set", "pop3.enabled=false", "--set", "lmtp.enabled=false"],
                          capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"access control" in proc.stdout + proc.stderr


def test_sending_routes_need_a_token_of_their_user(guarded):
    """submit, submit of a stored draft, forward and the address register refuse a
    missing or wrong token, and a user token acting for another user."""
    make_user(guarded, "alice", address="alice@example.com")
    bob = make_user(guarded, "bob", address="bob@example.com")
    token = login(guarded, "alice")
    zero = "0" * 24
    routes = (
        ("POST", f"/users/{bob}/submit", {"to": [{"address": "x@example.net"}], "text": "hi"}),
        ("POST", f"/users/{bob}/mailboxes/{zero}/messages/1/submit", {}),
        ("POST", f"/users/{bob}/mailboxes/{zero}/messages/1/forward", {"addresses": ["x@example.net"]}),
        ("GET", f"/users/{bob}/addressregister?query=a", None),
    )
    for method, path, body in routes:
        for bad in (None, "wrong"):
            status, resp = guarded.api(method, path, body, token=bad)
            assert (status, resp["code"]) == (403, "InvalidToken"), (path, bad)
        status, resp = guarded.api(method, path, body, token=token)
        assert (status, resp["code"]) == (403, "MissingPrivileges"), path
