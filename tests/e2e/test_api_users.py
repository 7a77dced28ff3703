"""HTTP API, users: create, list, resolve, read, update, delete, logout,
quota and password resets, through real HTTP against the real binary."""

import re

HEX24 = re.compile(r"^[0-9a-f]{24}$")


def assert_error(resp, status, code):
    got_status, body = resp
    assert got_status == status, (got_status, body)
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_create_and_get_user(eider):
    uid = eider.create_user("alice", address="alice@example.com", name="Alice", quota=1024 * 1024,
                            tags=["a", "B"], metaData={"x": 1}, retention=3600000, spamLevel=70)
    assert HEX24.match(uid)
    status, user = eider.api("GET", f"/users/{uid}")
    assert status == 200 and user["success"] is True
    assert user["id"] == uid
    assert user["username"] == "alice"
    assert user["name"] == "Alice"
    assert user["address"] == "alice@example.com"
    assert user["tags"] == ["a", "B"]
    assert user["metaData"] == {"x": 1}
    assert user["retention"] == 3600000
    assert user["spamLevel"] == 70
    assert user["hasPasswordSet"] is True
    assert user["activated"] is True and user["disabled"] is False and user["suspended"] is False
    limits = user["limits"]
    assert limits["quota"] == {"allowed": 1024 * 1024, "used": 0}
    for key in ("recipients", "forwards", "received", "imapUpload", "imapDownload", "pop3Download"):
        assert set(limits[key]) == {"allowed", "used", "ttl"}, key
    assert limits["filters"]["allowed"] == 400
    assert user["keyInfo"] is False and user["pubKey"] == ""
    assert user["enabled2fa"] == [] and user["autoreply"] is False


def test_defaults_when_unset(eider):
    uid = eider.create_user("bob")
    _, user = eider.api("GET", f"/users/{uid}")
    assert user["retention"] is False
    assert user["spamLevel"] == 50
    assert user["limits"]["quota"]["allowed"] == 1024 * 1024 * 1024
    assert user["limits"]["recipients"]["allowed"] == 2000


def test_create_validation_errors(eider):
    body = assert_error(eider.api("POST", "/users", {"password": "x"}), 400, "InputValidationError")
    assert "username" in body["details"]
    body = assert_error(eider.api("POST", "/users", {"username": "carol", "password": "x", "quota": "lots"}),
                        400, "InputValidationError")
    assert "quota" in body["details"]
    assert_error(eider.api("POST", "/users", {"username": "has space", "password": "x"}), 400,
                 "InputValidationError")
    assert_error(eider.api("POST", "/users", {"username": "dave", "password": "x", "spamLevel": 101}), 400,
                 "InputValidationError")
    assert_error(eider.api("POST", "/users", {"username": "erin", "password": "x", "disabledScopes": ["ftp"]}),
                 400, "InputValidationError")
    status, _ = eider.api("POST", "/users", None)
    assert status == 400


def test_duplicates_are_refused(eider):
    eider.create_user("frank", address="frank@example.com")
    assert_error(eider.api("POST", "/users", {"username": "Fr.ank", "password": "x"}), 400, "UserExistsError")
    assert_error(eider.api("POST", "/users", {"username": "frank2", "password": "x", "address": "frank@example.com"}),
                 400, "AddressExistsError")


def test_list_query_tags_and_paging(eider):
    ids = [eider.create_user(f"user{i}", tags=["even" if i % 2 == 0 else "odd"]) for i in range(5)]
    status, page = eider.api("GET", "/users?limit=2")
    assert status == 200
    assert page["total"] == 5 and page["page"] == 1 and len(page["results"]) == 2
    assert page["previousCursor"] is False and isinstance(page["nextCursor"], str)
    seen = [u["id"] for u in page["results"]]
    cursor = page["nextCursor"]
    while cursor:
        _, page = eider.api("GET", f"/users?limit=2&next={cursor}&page=2")
        seen += [u["id"] for u in page["results"]]
        cursor = page["nextCursor"]
    assert sorted(seen) == sorted(ids)
    assert isinstance(page["previousCursor"], str)
    _, back = eider.api("GET", f"/users?limit=2&previous={page['previousCursor']}")
    assert len(back["results"]) == 2
    _, found = eider.api("GET", "/users?query=user3")
    assert [u["username"] for u in found["results"]] == ["user3"] and found["query"] == "user3"
    _, tagged = eider.api("GET", "/users?tags=odd")
    assert sorted(u["username"] for u in tagged["results"]) == ["user1", "user3"]
    _, with_meta = eider.api("GET", "/users?metaData=true&limit=1")
    assert "metaData" in with_meta["results"][0]
    assert_error(eider.api("GET", "/users?limit=0"), 400, "InputValidationError")
    assert_error(eider.api("GET", "/users?limit=abc"), 400, "InputValidationError")
    assert_error(eider.api("GET", "/users?next=not%20a%20cursor!"), 400, "InputValidationError")


def test_resolve(eider):
    uid = eider.create_user("grace", address="grace@example.com")
    assert eider.api("GET", "/users/resolve/grace") == (200, {"success": True, "id": uid})
    assert eider.api("GET", "/users/resolve/g.r.a.c.e")[1]["id"] == uid
    assert_error(eider.api("GET", "/users/resolve/nobody"), 404, "UserNotFound")


def test_unknown_and_invalid_ids(eider):
    assert_error(eider.api("GET", "/users/" + "0" * 24), 404, "UserNotFound")
    body = assert_error(eider.api("GET", "/users/xyz"), 400, "InputValidationError")
    assert "user" in body["details"]
    assert_error(eider.api("PUT", "/users/" + "0" * 24, {"name": "x"}), 404, "UserNotFound")
    assert_error(eider.api("DELETE", "/users/" + "0" * 24), 404, "UserNotFound")


def test_update_user(eider):
    uid = eider.create_user("heidi", password="old-password")
    status, body = eider.api("PUT", f"/users/{uid}", {
        "name": "Heidi", "quota": 2048, "tags": "x,y", "metaData": '{"k": "v"}',
        "disabledScopes": ["pop3"], "targets": ["forward@example.com"],
    })
    assert (status, body) == (200, {"success": True})
    _, user = eider.api("GET", f"/users/{uid}")
    assert user["name"] == "Heidi"
    assert user["limits"]["quota"]["allowed"] == 2048
    assert user["tags"] == ["x", "y"]
    assert user["metaData"] == {"k": "v"}
    assert user["disabledScopes"] == ["pop3"]
    assert user["targets"] == ["forward@example.com"]
    assert_error(eider.api("PUT", f"/users/{uid}", {"metaData": "[1,2]"}), 400, "InputValidationError")
    assert_error(eider.api("PUT", f"/users/{uid}", {"existingPassword": "wrong", "password": "new-password"}),
                 403, "AuthFailed")
    assert eider.api("PUT", f"/users/{uid}", {"existingPassword": "old-password", "password": "new-password"})[0] == 200
    assert eider.api("POST", "/authenticate", {"username": "heidi", "password": "new-password"})[0] == 200
    assert eider.api("PUT", f"/users/{uid}", {"password": False})[0] == 200
    _, user = eider.api("GET", f"/users/{uid}")
    assert user["hasPasswordSet"] is False


def test_password_reset(eider):
    uid = eider.create_user("ivan", password="first-password")
    status, body = eider.api("POST", f"/users/{uid}/password/reset", {})
    assert status == 200 and body["success"] and len(body["password"]) >= 12 and body["validAfter"]
    status, auth = eider.api("POST", "/authenticate", {"username": "ivan", "password": body["password"]})
    assert status == 200 and auth["requirePasswordChange"] is True
    assert_error(eider.api("POST", "/authenticate", {"username": "ivan", "password": "first-password"}),
                 403, "AuthFailed")
    assert_error(eider.api("POST", f"/users/{'0' * 24}/password/reset", {}), 404, "UserNotFound")


def test_quota_reset_and_logout(eider):
    uid = eider.create_user("judy")
    status, body = eider.api("POST", f"/users/{uid}/quota/reset", {})
    assert status == 200 and body == {"success": True, "storageUsed": 0, "previousStorageUsed": 0}
    status, body = eider.api("POST", "/quota/reset", {})
    assert status == 200 and body["success"] and HEX24.match(body["task"])
    assert eider.api("PUT", f"/users/{uid}/logout", {"reason": "bye"}) == (200, {"success": True})
    assert_error(eider.api("PUT", f"/users/{'0' * 24}/logout", {}), 404, "UserNotFound")
    assert_error(eider.api("POST", f"/users/{'0' * 24}/quota/reset", {}), 404, "UserNotFound")


def test_delete_user(eider):
    uid = eider.create_user("kate", address="kate@example.com")
    status, body = eider.api("DELETE", f"/users/{uid}")
    assert status == 200 and body["success"] and body["user"] == uid and body["addresses"]["deleted"] == 1
    assert_error(eider.api("GET", f"/users/{uid}"), 404, "UserNotFound")
    assert_error(eider.api("GET", "/users/resolve/kate"), 404, "UserNotFound")
    # The username and address are free again.
    eider.create_user("kate", address="kate@example.com")


def test_unknown_route_and_health(eider):
    assert eider.api("GET", "/health") == (200, {"success": True})
    assert_error(eider.api("GET", "/no/such/route"), 404, "ResourceNotFound")
