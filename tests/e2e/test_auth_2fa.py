"""Two-factor authentication: TOTP set up with a code computed from the returned
seed; with 2FA on, IMAP and POP3 refuse the master password and accept ASPs;
POST /authenticate reports require2fa and its token is limited until the second
factor passes; custom 2FA; disabling."""

import time

from auth_util import authenticate, imap_login, pop3_login, totp


def setup_totp(server, uid):
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/setup", {"issuer": "Eider Tests"})
    assert status == 200, body
    assert body["qrcode"].startswith("data:image/png;base64,")
    assert body["otpauth"].startswith("otpauth://totp/")
    assert f"secret={body['seed']}" in body["otpauth"]
    assert "issuer=Eider%20Tests" in body["otpauth"] or "issuer=Eider+Tests" in body["otpauth"]
    return body["seed"]


def enable_totp(server, uid):
    seed = setup_totp(server, uid)
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/enable", {"token": "000000" if totp(seed) != "000000" else "111111"})
    assert status == 403 and body["code"] == "InvalidToken", body
    status, body = server.api("POST", f"/users/{uid}/2fa/totp/enable", {"token": totp(seed)})
    assert status == 200, body
    return seed


def test_totp_setup_enable_check_disable(eider):
    uid = eider.create_user("totpuser", password="master password")
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/enable", {"token": "123456"})
    assert status == 400 and body["code"] == "TotpDisabled", "enable needs a setup first"
    seed = enable_totp(eider, uid)
    status, user = eider.api("GET", f"/users/{uid}")
    assert user["enabled2fa"] == ["totp"]
    status, listing = eider.api("GET", "/users?query=totpuser")
    assert listing["results"][0]["enabled2fa"] == ["totp"]
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/setup", {"issuer": "x"})
    assert status == 400 and body["code"] == "TotpEnabled"

    # check: a valid code passes once; a reused or wrong one is refused.
    code = totp(seed, time.time() + 30)
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/check", {"token": code})
    assert status == 200, body
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/check", {"token": code})
    assert status == 403 and body["code"] == "InvalidToken", "a code is accepted once"
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/check", {})
    assert status == 400 and body["code"] == "InputValidationError"

    status, body = eider.api("DELETE", f"/users/{uid}/2fa/totp")
    assert status == 200, body
    status, body = eider.api("DELETE", f"/users/{uid}/2fa/totp")
    assert status == 400 and body["code"] == "TotpDisabled"
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/check", {"token": totp(seed)})
    assert status == 400 and body["code"] == "TotpDisabled"
    status, user = eider.api("GET", f"/users/{uid}")
    assert user["enabled2fa"] == []
    status, log = eider.api("GET", f"/users/{uid}/authlog?limit=100")
    actions = {(e["action"], e["result"]) for e in log["results"]}
    assert ("enable 2fa totp", "success") in actions
    assert ("enable 2fa totp", "fail") in actions
    assert ("check 2fa totp", "fail") in actions
    assert ("disable 2fa totp", "success") in actions


def test_totp_failures_are_rate_limited(eider):
    uid = eider.create_user("totplimit", password="master password")
    seed = enable_totp(eider, uid)
    wrong = "000000" if totp(seed) != "000000" else "111111"
    answers = [eider.api("POST", f"/users/{uid}/2fa/totp/check", {"token": wrong})[0] for _ in range(8)]
    assert answers[:6] == [403] * 6 and answers[6:] == [429, 429], answers
    status, body = eider.api("POST", f"/users/{uid}/2fa/totp/check", {"token": totp(seed)})
    assert status == 429 and body["code"] == "RateLimitedError"


def test_mail_protocols_need_asps_under_2fa(eider):
    uid = eider.create_user("twofa", password="master password")
    status, asp = eider.api("POST", f"/users/{uid}/asps", {"description": "mail", "scopes": ["imap", "pop3"]})
    assert status == 200
    # Before 2FA the master password works everywhere.
    ok, client = imap_login(eider, "twofa", "master password")
    assert ok, client
    client.logout()
    enable_totp(eider, uid)

    ok, answer = imap_login(eider, "twofa", "master password")
    assert not ok and "AUTHENTICATIONFAILED" in answer, answer
    ok, answer = pop3_login(eider, "twofa", "master password")
    assert not ok and "[AUTH]" in answer, answer
    ok, client = imap_login(eider, "twofa", asp["password"])
    assert ok, client
    client.select("INBOX")
    client.logout()
    ok, client = pop3_login(eider, "twofa", asp["password"])
    assert ok, client
    client.quit()
    status, body = authenticate(eider, "twofa", "master password", scope="imap")
    assert status == 403

    status, log = eider.api("GET", f"/users/{uid}/authlog?limit=100")
    refused = [e for e in log["results"] if e["result"] == "fail" and e.get("source") == "master"]
    assert {e["protocol"] for e in refused} >= {"IMAP", "POP3"}
    assert all(e.get("require2fa") == "totp" for e in refused)


def test_authenticate_token_is_limited_until_totp(eider):
    uid = eider.create_user("tokentotp", password="master password")
    seed = enable_totp(eider, uid)
    status, body = authenticate(eider, "tokentotp", "master password", token=True)
    assert status == 200, body
    assert body["require2fa"] == ["totp"]
    token = body["token"]
    status, body = eider.api("POST", "/preauth", {"username": "tokentotp"})
    assert status == 200 and body["require2fa"] == ["totp"]

    # Limited: only the second-factor routes.
    status, body = eider.api("GET", "/users/me", token=token)
    assert status == 403 and body["code"] == "MissingPrivileges", body
    status, body = eider.api("GET", f"/users/{uid}/mailboxes", token=token)
    assert status == 403
    status, body = eider.api("DELETE", f"/users/{uid}/2fa", token=token)
    assert status == 403, "a limited token cannot switch 2FA off"
    wrong = "000000" if totp(seed, time.time() + 30) != "000000" else "111111"
    status, body = eider.api("POST", "/users/me/2fa/totp/check", {"token": wrong}, token=token)
    assert status == 403 and body["code"] == "InvalidToken"
    status, body = eider.api("GET", "/users/me", token=token)
    assert status == 403

    status, body = eider.api("POST", "/users/me/2fa/totp/check", {"token": totp(seed, time.time() + 30)}, token=token)
    assert status == 200, body
    status, body = eider.api("GET", "/users/me", token=token)
    assert status == 200 and body["id"] == uid


def test_custom_2fa_and_disable_all(eider):
    uid = eider.create_user("custom", password="master password")
    status, body = eider.api("PUT", f"/users/{uid}/2fa/custom", {})
    assert status == 200, body
    status, user = eider.api("GET", f"/users/{uid}")
    assert user["enabled2fa"] == ["custom"]
    ok, answer = imap_login(eider, "custom", "master password")
    assert not ok
    status, body = authenticate(eider, "custom", "master password")
    assert status == 200 and body["require2fa"] == ["custom"]
    status, body = eider.api("DELETE", f"/users/{uid}/2fa/custom")
    assert status == 200
    ok, client = imap_login(eider, "custom", "master password")
    assert ok, client
    client.logout()

    enable_totp(eider, uid)
    eider.api("PUT", f"/users/{uid}/2fa/custom", {})
    status, user = eider.api("GET", f"/users/{uid}")
    assert user["enabled2fa"] == ["totp", "custom"]
    status, body = eider.api("DELETE", f"/users/{uid}/2fa")
    assert status == 200
    status, user = eider.api("GET", f"/users/{uid}")
    assert user["enabled2fa"] == []
    ok, client = pop3_login(eider, "custom", "master password")
    assert ok, client
    client.quit()
    # PUT /users with disable2fa does the same.
    eider.api("PUT", f"/users/{uid}/2fa/custom", {})
    status, body = eider.api("PUT", f"/users/{uid}", {"disable2fa": True})
    assert status == 200, body
    status, user = eider.api("GET", f"/users/{uid}")
    assert user["enabled2fa"] == []


def test_totp_unknown_user(eider):
    missing = "000000000000000000000000"
    status, body = eider.api("POST", f"/users/{missing}/2fa/totp/setup", {"issuer": "x"})
    assert status == 404 and body["code"] == "UserNotFound"
    status, body = eider.api("DELETE", f"/users/{missing}/2fa")
    assert status == 404 and body["code"] == "UserNotFound"
