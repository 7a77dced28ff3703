"""HTTP API hardening (issue #13 items 5 and 8): what a user's own token may change
and claim, browser request hygiene while access control is off (Origin, Host,
Content-Type), and malformed paging cursors."""

import http.client
import json

import pytest

SECRET = "root-secret-for-hardening-tests"
GUARDED = ["--set", "api.accessControl.enabled=true", "--set", f'api.accessControl.secret="{SECRET}"']

# Settings a user token may not change about itself, each with a value that would.
FORBIDDEN = [
    {"quota": 1 << 40},
    {"tags": ["vip"]},
    {"metaData": {"plan": "unlimited"}},
    {"internalData": {"billing": "none"}},
    {"disabledScopes": ["pop3"]},
    {"fromWhitelist": ["*"]},
    {"recipients": 1000000},
    {"forwards": 1000000},
    {"filters": 100000},
    {"receivedMax": 100000},
    {"imapMaxConnections": 1000},
    {"imapMaxDownload": 1 << 50},
    {"pop3MaxMessages": 100000},
    {"retention": 1},
    {"disabled": True},
    {"suspended": True},
    {"requirePasswordChange": True},
]

# What the owner's settings look like to root, for before/after comparison.
WATCHED = ["name", "limits", "tags", "metaData", "internalData", "disabledScopes", "fromWhitelist",
           "retention", "disabled", "suspended", "targets", "requirePasswordChange"]


def raw(server, method, path, body=b"", headers=None):
    """One request over a plain socket with exactly these headers: (status, JSON or bytes)."""
    host, port = server.hostport("API")
    conn = http.client.HTTPConnection(host, port, timeout=30)
    h = {"Host": f"{host}:{port}", **(headers or {})}
    if body:
        h.setdefault("Content-Length", str(len(body)))
    conn.request(method, path, body=body or None, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data or b"null"), dict(resp.getheaders())
    except ValueError:
        return resp.status, data, dict(resp.getheaders())


def make_user(server, name, address, token=None):
    status, body = server.api("POST", "/users", {"username": name, "password": "pass-" + name,
                                                 "address": address}, token=token)
    assert status == 200, body
    return body["id"]


def login(server, name, password=None):
    status, body = server.api("POST", "/authenticate",
                              {"username": name, "password": password or "pass-" + name, "token": True},
                              token=SECRET)
    assert status == 200, body
    return body["token"]


def watched(server, uid):
    status, body = server.api("GET", f"/users/{uid}", token=SECRET)
    assert status == 200, body
    return {k: body.get(k) for k in WATCHED}


@pytest.fixture
def guarded(start_eider):
    return start_eider(extra_args=GUARDED)


def test_user_token_cannot_raise_its_own_privileges(guarded):
    uid = make_user(guarded, "alice", "alice@example.org", token=SECRET)
    token = login(guarded, "alice")
    before = watched(guarded, uid)
    for change in FORBIDDEN:
        status, body = guarded.api("PUT", "/users/me", change, token=token)
        assert (status, body.get("code")) == (403, "MissingPrivileges"), (change, status, body)
        assert next(iter(change)) in body["error"], body
    # A forbidden field refuses the whole request: the allowed part is not applied either.
    status, body = guarded.api("PUT", f"/users/{uid}", {"name": "Sneaky", "quota": 1 << 40}, token=token)
    assert (status, body["code"]) == (403, "MissingPrivileges")
    # Passwords: not pre-hashed, and not without the current one (a stolen token must not
    # lock the owner out).
    status, body = guarded.api("PUT", "/users/me", {"password": "stolen-token-pass"}, token=token)
    assert (status, body["code"]) == (403, "MissingPrivileges")
    md5 = "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"
    status, body = guarded.api("PUT", "/users/me", {"existingPassword": "pass-alice", "password": md5,
                                                    "hashedPassword": True}, token=token)
    assert (status, body["code"]) == (403, "MissingPrivileges") and "hashedPassword" in body["error"]
    assert watched(guarded, uid) == before
    assert guarded.api("POST", "/authenticate", {"username": "alice", "password": "pass-alice"}, token=SECRET)[0] == 200

    # What the owner may change still works.
    status, body = guarded.api("PUT", "/users/me", {"name": "Alice A", "targets": ["alice@elsewhere.example"],
                                                    "language": "et", "spamLevel": 80, "disable2fa": True},
                               token=token)
    assert status == 200, body
    after = watched(guarded, uid)
    assert after["name"] == "Alice A" and after["targets"] == ["alice@elsewhere.example"]
    assert after["limits"] == before["limits"]
    status, body = guarded.api("PUT", "/users/me", {"existingPassword": "pass-alice", "password": "new-alice-pass"},
                               token=token)
    assert status == 200, body
    assert guarded.api("POST", "/authenticate", {"username": "alice", "password": "new-alice-pass"}, token=SECRET)[0] == 200
    # Root keeps every power.
    assert guarded.api("PUT", f"/users/{uid}", {"quota": 1 << 30, "tags": ["vip"], "fromWhitelist": ["*"]},
                       token=SECRET)[0] == 200
    assert watched(guarded, uid)["tags"] == ["vip"]


def test_user_token_claims_only_ordinary_addresses_in_its_domains(guarded):
    alice = make_user(guarded, "alice", "alice@example.org", token=SECRET)
    make_user(guarded, "bob", "bob@tenant-b.example", token=SECRET)
    token = login(guarded, "alice")
    refused = [
        {"address": "*@example.org", "allowWildcard": True},
        {"address": "alice@*", "allowWildcard": True},
        {"address": "postmaster@example.org"},
        {"address": "Post.Master+x@example.org"},
        {"address": "abuse@example.org"},
        {"address": "mailer-daemon@example.org"},
        {"address": "hostmaster@example.org"},
        {"address": "anything@tenant-b.example"},
        {"address": "me@unclaimed.example"},
    ]
    for claim in refused:
        status, body = guarded.api("POST", "/users/me/addresses", claim, token=token)
        assert status in (400, 403), (claim, status, body)
        if status == 400:
            # Parsed as invalid before any privilege question (alice@* has no domain).
            assert body["code"] == "InputValidationError", body
        else:
            assert body["code"] == "MissingPrivileges", (claim, body)
    status, body = guarded.api("GET", f"/users/{alice}/addresses", token=SECRET)
    assert [a["address"] for a in body["results"]] == ["alice@example.org"]
    # Nothing was claimed: mail for tenant B's unknown names is still nobody's.
    status, body = guarded.api("GET", "/addresses/resolve/someone@tenant-b.example?allowWildcard=true", token=SECRET)
    assert status == 404, body

    status, body = guarded.api("POST", "/users/me/addresses", {"address": "alias@example.org"}, token=token)
    assert status == 200, body
    # Renaming an address into a reserved or foreign one is refused the same way.
    for target in ("postmaster@example.org", "alias@tenant-b.example"):
        status, resp = guarded.api("PUT", f"/users/me/addresses/{body['id']}", {"address": target}, token=token)
        assert (status, resp["code"]) == (403, "MissingPrivileges"), (target, resp)
    # Root may still give anyone a role address or a catch-all.
    assert guarded.api("POST", f"/users/{alice}/addresses", {"address": "postmaster@example.org"},
                       token=SECRET)[0] == 200
    assert guarded.api("POST", f"/users/{alice}/addresses", {"address": "*@example.org", "allowWildcard": True},
                       token=SECRET)[0] == 200


def test_user_address_domains_setting(start_eider):
    server = start_eider(extra_args=[*GUARDED, "--set", 'api.userAddressDomains=["shared.example"]'])
    make_user(server, "carol", "carol@example.org", token=SECRET)
    token = login(server, "carol")
    status, body = server.api("POST", "/users/me/addresses", {"address": "carol2@example.org"}, token=token)
    assert (status, body["code"]) == (403, "MissingPrivileges")
    assert server.api("POST", "/users/me/addresses", {"address": "carol@shared.example"}, token=token)[0] == 200


def test_cross_origin_posts_are_refused_without_access_control(eider):
    """A web page the operator visits must not drive the open loopback API."""
    host, port = eider.hostport("API")
    user = json.dumps({"username": "csrf", "password": "csrf-pass-1"}).encode()
    forward = json.dumps({"address": "*@example.org", "targets": ["thief@evil.example"]}).encode()
    attempts = [
        # What a cross-site <form enctype="text/plain"> or fetch(no-cors) sends.
        ("/users", user, {"Content-Type": "text/plain", "Origin": "http://evil.example"}),
        ("/addresses/forwarded", forward, {"Content-Type": "text/plain", "Origin": "http://evil.example"}),
        # Sec-Fetch-Site alone marks a cross-site request too.
        ("/users", user, {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}),
        # JSON from another origin (a same-site page on another port, or a null origin).
        ("/users", user, {"Content-Type": "application/json", "Origin": f"http://{host}:{port + 1}"}),
        ("/users", user, {"Content-Type": "application/json", "Origin": "null"}),
    ]
    for path, body, headers in attempts:
        status, resp, _ = raw(eider, "POST", path, body, headers)
        assert (status, resp["code"]) == (403, "MissingPrivileges"), (headers, status, resp)
    # Bodies that are not JSON are refused even without an Origin.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": ctype} if ctype else {}
        status, resp, _ = raw(eider, "POST", "/users", user, headers)
        assert (status, resp["code"]) == (415, "InputValidationError"), (ctype, status, resp)
    status, listing = eider.api("GET", "/users")
    assert listing["total"] == 0, listing
    status, listing = eider.api("GET", "/addresses")
    assert listing["total"] == 0, listing
    # Same-origin and plain (non-browser) JSON requests work as before.
    status, resp, _ = raw(eider, "POST", "/users", user,
                          {"Content-Type": "application/json; charset=utf-8", "Origin": f"http://{host}:{port}"})
    assert status == 200, resp
    status, resp, _ = raw(eider, "DELETE", f"/users/{resp['id']}")
    assert status == 200, resp


def test_listed_origins_get_cors(start_eider):
    server = start_eider(extra_args=["--set", 'api.allowOrigins=["http://app.example"]'])
    status, _, headers = raw(server, "OPTIONS", "/users", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and headers.get("access-control-allow-origin") == "http://app.example", headers
    body = json.dumps({"username": "corsuser", "password": "cors-pass-1"}).encode()
    status, resp, headers = raw(server, "POST", "/users", body,
                                {"Content-Type": "application/json", "Origin": "http://app.example"})
    assert status == 200, resp
    assert headers.get("access-control-allow-origin") == "http://app.example"
    status, resp, headers = raw(server, "GET", "/users", headers={"Origin": "http://other.example"})
    assert status == 403 and "access-control-allow-origin" not in {k.lower() for k in headers}


def test_host_must_name_the_listener_without_access_control(eider, start_eider):
    """DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends Host: evil.example."""
    host, port = eider.hostport("API")
    eider.create_user("rebind")
    for bad in (f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}", f"localhost.evil.example:{port}"):
        status, resp, _ = raw(eider, "GET", "/users", headers={"Host": bad})
        assert (status, resp["code"]) == (403, "MissingPrivileges"), (bad, status, resp)
        assert "rebind" not in json.dumps(resp)
    for good in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        status, resp, _ = raw(eider, "GET", "/users", headers={"Host": good})
        assert status == 200 and resp["total"] == 1, (good, status, resp)
    listed = start_eider(extra_args=["--set", 'api.allowHosts=["mail.test"]'])
    status, resp, _ = raw(listed, "GET", "/users", headers={"Host": "mail.test:8080"})
    assert status == 200, resp
    status, resp, _ = raw(listed, "GET", "/users", headers={"Host": "evil.example"})
    assert status == 403, resp


def test_access_control_keeps_tokens_working_for_any_host(guarded):
    """With access control on, tokens protect the API; proxies' Host names pass."""
    status, resp, _ = raw(guarded, "GET", "/users", headers={"Host": "mail.example.org", "X-Access-Token": SECRET})
    assert status == 200, resp


def test_malformed_cursors_are_input_errors(eider):
    uid = eider.create_user("pager", address="pager@example.org")
    status, mailboxes = eider.api("GET", f"/users/{uid}/mailboxes")
    inbox = next(m["id"] for m in mailboxes["results"] if m["path"] == "INBOX")
    paths = ["/users", "/addresses", "/domainaliases", f"/users/{uid}/authlog", "/filters",
             f"/users/{uid}/mailboxes/{inbox}/messages", f"/users/{uid}/search"]
    for path in paths:
        for param in ("next", "previous"):
            status, body = eider.api("GET", f"{path}?{param}=garbage")
            assert (status, body.get("code")) == (400, "InputValidationError"), (path, param, status, body)
            assert "Database error" not in json.dumps(body)
