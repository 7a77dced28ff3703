"""WildDuck compatibility of the users and authentication answers (issue #14):
an existing WildDuck client must get the answers WildDuck gives, through real
HTTP against the real binary."""

from auth_util import authenticate, totp


def test_require2fa_is_false_without_2fa_else_the_list(eider):
    uid = eider.create_user("twofa", password="master password")
    status, body = authenticate(eider, "twofa", "master password")
    assert status == 200 and body["require2fa"] is False, body
    status, body = eider.api("POST", "/preauth", {"username": "twofa"})
    assert status == 200 and body["require2fa"] is False, body

    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/setup", {"issuer": "Eider"})
    assert status == 200, body
    assert eider.api("POST", f"/users/{uid}/2fa/totp/enable", {"token": totp(body["seed"])})[0] == 200
    status, body = authenticate(eider, "twofa", "master password")
    assert status == 200 and body["require2fa"] == ["totp"], body
    status, body = eider.api("POST", "/preauth", {"username": "twofa"})
    assert status == 200 and body["require2fa"] == ["totp"], body


def test_deleting_the_main_address_is_not_permitted(eider):
    uid = eider.create_user("mainaddr", address="mainaddr@example.com")
    main = [a["id"] for a in eider.api("GET", f"/users/{uid}/addresses")[1]["results"] if a["main"]][0]
    status, body = eider.api("DELETE", f"/users/{uid}/addresses/{main}")
    assert (status, body) == (400, {"error": "Can not delete main address", "code": "NotPermitted"})


def test_password_change_keeps_the_token_that_made_it(eider):
    uid = eider.create_user("keeper", password="old password one")
    mine = authenticate(eider, "keeper", "old password one", token=True)[1]["token"]
    other = authenticate(eider, "keeper", "old password one", token=True)[1]["token"]
    status, body = eider.api("PUT", f"/users/{uid}",
                             {"password": "new password two", "existingPassword": "old password one"}, token=mine)
    assert status == 200, body
    status, body = eider.api("GET", "/users/me", token=mine)
    assert status == 200 and body["id"] == uid, body
    status, body = eider.api("GET", "/users/me", token=other)
    assert (status, body["code"]) == (403, "InvalidToken")
    # A change by root keeps no user token.
    assert eider.api("PUT", f"/users/{uid}", {"password": "third password x"})[0] == 200
    status, body = eider.api("GET", "/users/me", token=mine)
    assert (status, body["code"]) == (403, "InvalidToken")


def test_reset_password_valid_after_holds_off_logins(eider):
    from datetime import datetime, timedelta, timezone
    from auth_util import imap_login, pop3_login

    uid = eider.create_user("later", password="first password")
    when = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    status, body = eider.api("POST", f"/users/{uid}/password/reset", {"validAfter": when})
    assert status == 200 and body["validAfter"] == when, body
    temp = body["password"]
    status, body = authenticate(eider, "later", temp)
    assert (status, body) == (403, {"error": "Temporary password is not yet activated",
                                     "code": "TempPasswordNotYetValid"})
    ok, answer = imap_login(eider, "later", temp)
    assert not ok and "AUTHENTICATIONFAILED" in answer, answer
    ok, answer = pop3_login(eider, "later", temp)
    assert not ok and "[AUTH]" in answer, answer

    status, body = eider.api("POST", f"/users/{uid}/password/reset", {})
    assert status == 200
    status, body = authenticate(eider, "later", body["password"])
    assert status == 200 and body["requirePasswordChange"] is True, body


def test_usernames_follow_wildduck_rule(eider):
    for name in ("ömyuser2", "Ämy", ".lead", "trail.", "dou..ble"):
        status, body = eider.api("POST", "/users", {"username": name, "password": "secret-pass",
                                                    "address": "x@example.com"})
        assert status == 400 and body["code"] == "InputValidationError", (name, body)
        assert body["details"] == {"username": f'"username" with value "{name}" matches the inverted username pattern'}
    for name in ("my.user-2", "андрис"):
        assert eider.api("POST", "/users", {"username": name, "password": "secret-pass",
                                            "address": f"u{len(name)}@example.com"})[0] == 200, name


def test_generated_address_uses_email_domain_else_hostname(eider, start_eider, tmp_path):
    import socket

    uid = eider.create_user("nodomain")
    status, user = eider.api("GET", f"/users/{uid}")
    assert status == 200 and user["address"] == f"nodomain@{socket.gethostname().lower()}", user

    server = start_eider(data_dir=tmp_path / "domain", extra_args=["--set", 'emailDomain="Example.ORG"'])
    uid = server.create_user("withdomain")
    assert server.api("GET", f"/users/{uid}")[1]["address"] == "withdomain@example.org"


def test_validation_errors_name_their_field(eider):
    status, body = eider.api("POST", "/users", {"username": "badhash", "password": "$9$nope",
                                                "hashedPassword": True})
    assert status == 400 and body["code"] == "InputValidationError", body
    assert list(body["details"]) == ["password"], body
    uid = eider.create_user("goodhash")
    status, body = eider.api("PUT", f"/users/{uid}", {"password": "$9$nope", "hashedPassword": True})
    assert status == 400 and list(body["details"]) == ["password"], body
    status, body = eider.api("PUT", f"/users/{uid}", {"metaData": "[1,2]"})
    assert status == 400 and list(body["details"]) == ["metaData"], body


def test_api_methods_lists_the_served_routes_as_wildduck(eider):
    status, routes = eider.api("GET", "/api-methods")
    assert status == 200 and isinstance(routes, dict), routes
    _, doc = eider.api("GET", "/openapi.json")
    served = {(m.upper(), p) for p, item in doc["paths"].items() for m in item
              if m in ("get", "put", "post", "delete", "patch")}
    listed = set()
    for name, route in routes.items():
        spec = route["spec"]
        assert route["name"] == spec["name"] == name and route["method"] == spec["method"]
        listed.add((spec["method"], spec["path"]))
    as_openapi = {(m, "/".join("{" + s[1:] + "}" if s.startswith(":") else s for s in p.split("/")))
                  for m, p in listed}
    assert as_openapi == served
    assert routes["getUser"]["spec"] == {"name": "getUser", "method": "GET", "path": "/users/:user"}
