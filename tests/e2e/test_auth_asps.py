"""Application-specific passwords over the API and the mail protocols: create
(generated or given password, scopes, ttl), list/showAll, read, delete, last use,
scope enforcement on IMAP/POP3/API, and the Apple mobileconfig profile."""

import base64
import plistlib
import socket
import time

from auth_util import authenticate, imap_login, pop3_login


def create_asp(server, uid, **body):
    status, res = server.api("POST", f"/users/{uid}/asps", {"description": "client", **body})
    assert status == 200 and res["success"], res
    return res


def test_asp_lifecycle(eider):
    uid = eider.create_user("aspuser", password="master password")
    created = create_asp(eider, uid, description="Phone", scopes=["imap", "smtp"])
    password = created["password"]
    assert len(password) == 16 and password.isalpha() and password.islower()
    assert "mobileconfig" not in created

    status, listing = eider.api("GET", f"/users/{uid}/asps")
    assert status == 200
    [item] = listing["results"]
    assert item["id"] == created["id"]
    assert item["description"] == "Phone"
    assert item["scopes"] == ["imap", "smtp"]
    assert item["lastUse"] == {"time": False, "event": False}
    assert item["expires"] is False
    assert "password" not in item

    # IMAP with the ASP (spaces and case do not matter); the use is recorded.
    spaced = " ".join(password[i:i + 4] for i in range(0, 16, 4)).upper()
    ok, client = imap_login(eider, "aspuser", spaced)
    assert ok, client
    client.logout()
    status, got = eider.api("GET", f"/users/{uid}/asps/{created['id']}")
    assert status == 200
    assert got["lastUse"]["time"] is not False
    event = got["lastUse"]["event"]
    status, logged = eider.api("GET", f"/users/{uid}/authlog/{event}")
    assert status == 200, logged
    assert logged["source"] == "asp" and logged["asp"] == created["id"]
    assert logged["aname"] == "Phone" and logged["result"] == "success"

    # Not for POP3 (outside its scopes), never for the master scope.
    ok, answer = pop3_login(eider, "aspuser", password)
    assert not ok and "[AUTH]" in answer, answer
    status, body = authenticate(eider, "aspuser", password)
    assert status == 403 and body["code"] == "AuthFailed"
    status, body = authenticate(eider, "aspuser", password, scope="imap")
    assert status == 200 and body["scope"] == "imap"

    status, body = eider.api("DELETE", f"/users/{uid}/asps/{created['id']}")
    assert status == 200 and body == {"success": True}
    ok, answer = imap_login(eider, "aspuser", password)
    assert not ok and "AUTHENTICATIONFAILED" in answer
    status, body = eider.api("GET", f"/users/{uid}/asps/{created['id']}")
    assert status == 404 and body["code"] == "AspNotFound"
    status, body = eider.api("DELETE", f"/users/{uid}/asps/{created['id']}")
    assert status == 404 and body["code"] == "AspNotFound"


def test_pop3_only_asp_is_refused_on_imap(eider):
    uid = eider.create_user("popper", password="master password")
    password = create_asp(eider, uid, scopes=["pop3"])["password"]
    ok, answer = imap_login(eider, "popper", password)
    assert not ok and "AUTHENTICATIONFAILED" in answer, answer
    ok, client = pop3_login(eider, "popper", password)
    assert ok, client
    client.quit()
    status, log = eider.api("GET", f"/users/{uid}/authlog")
    failures = [e for e in log["results"] if e["result"] == "fail" and e.get("source") == "asp"]
    assert failures and failures[0]["protocol"] == "IMAP"


def test_given_password_ttl_and_show_all(eider):
    uid = eider.create_user("ttluser", password="master password")
    given = "abcd efgh ijkl mnop"
    created = create_asp(eider, uid, password=given, ttl=2, scopes=["*"])
    assert created["password"] == "abcdefghijklmnop"
    status, listing = eider.api("GET", f"/users/{uid}/asps")
    assert listing["results"] == [], "entries with a ttl are hidden without showAll"
    status, listing = eider.api("GET", f"/users/{uid}/asps?showAll=true")
    [item] = listing["results"]
    assert item["expires"] is not False
    assert item["scopes"] == ["imap", "pop3", "smtp"]
    ok, client = pop3_login(eider, "ttluser", "abcdefghijklmnop")
    assert ok, client
    client.quit()
    time.sleep(2.5)
    ok, answer = pop3_login(eider, "ttluser", "abcdefghijklmnop")
    assert not ok, "an expired ASP no longer works"
    status, listing = eider.api("GET", f"/users/{uid}/asps?showAll=true")
    assert listing["results"] == []


def test_asp_input_errors(eider):
    uid = eider.create_user("asperr", password="master password")
    status, body = eider.api("POST", f"/users/{uid}/asps", {"scopes": ["imap"]})
    assert status == 400 and body["code"] == "InputValidationError"
    status, body = eider.api("POST", f"/users/{uid}/asps", {"description": "x", "scopes": ["master"]})
    assert status == 400 and body["code"] == "InputValidationError"
    status, body = eider.api("POST", f"/users/{uid}/asps", {"description": "x", "password": "short"})
    assert status == 400 and body["code"] == "InputValidationError"
    status, body = eider.api("POST", f"/users/{uid}/asps",
                             {"description": "x", "scopes": ["imap"], "generateMobileconfig": True})
    assert status == 400 and body["code"] == "InvalidAuthScope"
    status, body = eider.api("GET", f"/users/{uid}/asps/000000000000000000000000")
    assert status == 404 and body["code"] == "AspNotFound"
    status, body = eider.api("GET", "/users/000000000000000000000000/asps")
    assert status == 404 and body["code"] == "UserNotFound"
    status, body = eider.api("POST", "/users/000000000000000000000000/asps", {"description": "x"})
    assert status == 404 and body["code"] == "UserNotFound"


def test_asp_limit(start_eider):
    server = start_eider(extra_args=["--set", "auth.maxAsps=2"])
    uid = server.create_user("many", password="master password")
    create_asp(server, uid)
    create_asp(server, uid)
    status, body = server.api("POST", f"/users/{uid}/asps", {"description": "third"})
    assert status == 403 and body["code"] == "TooMany", body


def test_mobileconfig_profile(start_eider):
    server = start_eider(extra_args=[
        "--set", 'api.mobileconfig.imapHostname="imap.example.com"',
        "--set", "api.mobileconfig.imapPort=993",
        "--set", "api.mobileconfig.imapSecure=true",
        "--set", 'api.mobileconfig.pop3Hostname="pop.example.com"',
        "--set", 'api.mobileconfig.smtpHostname="smtp.example.com"',
        "--set", "api.mobileconfig.smtpPort=465",
        "--set", "api.mobileconfig.smtpSecure=true",
        "--set", 'api.mobileconfig.organization="Example Org"',
    ])
    uid = server.create_user("mobile", password="master password", address="mobile@example.com", name="Mo Bile")
    created = create_asp(server, uid, description="iPhone", generateMobileconfig=True)
    assert created["address"] == "mobile@example.com" and created["name"] == "Mo Bile"
    profile = plistlib.loads(base64.b64decode(created["mobileconfig"]))
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadDisplayName"] == "iPhone"
    assert profile["PayloadOrganization"] == "Example Org"
    assert profile["PayloadIdentifier"].endswith("." + uid)
    [account] = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAccountType"] == "EmailTypeIMAP"
    assert account["EmailAddress"] == "mobile@example.com"
    assert account["IncomingMailServerHostName"] == "imap.example.com"
    assert account["IncomingMailServerPortNumber"] == 993
    assert account["IncomingMailServerUseSSL"] is True
    assert account["IncomingPassword"] == created["password"]
    assert account["OutgoingMailServerHostName"] == "smtp.example.com"
    assert account["OutgoingMailServerPortNumber"] == 465
    assert account["OutgoingPasswordSameAsIncomingPassword"] is True
    assert "mobile@example.com" in profile["PayloadDescription"]

    # POP3 + SMTP scopes: a POP account; another identity of the user as the address.
    status, body = server.api("POST", f"/users/{uid}/addresses", {"address": "alias@example.com", "name": "Alias"})
    assert status == 200, body
    created = create_asp(server, uid, scopes=["pop3", "smtp"], generateMobileconfig=True, address="alias@example.com")
    account = plistlib.loads(base64.b64decode(created["mobileconfig"]))["PayloadContent"][0]
    assert account["EmailAccountType"] == "EmailTypePOP"
    assert account["IncomingMailServerHostName"] == "pop.example.com"
    assert account["EmailAddress"] == "alias@example.com"
    assert account["EmailAccountName"] == "Alias"
    status, body = server.api("POST", f"/users/{uid}/asps",
                              {"description": "x", "generateMobileconfig": True, "address": "nobody@example.com"})
    assert status == 404 and body["code"] == "AddressNotFound"


def test_mobileconfig_outgoing_server_follows_submission(start_eider):
    """Without smtpPort/smtpSecure of its own, the profile's outgoing server is the
    submission gateway's port and TLS mode."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_eider(extra_args=[
        "--set", "submission.enabled=true", "--set", f"submission.port={port}",
        "--set", "submission.secure=true",
    ])
    assert server.hostport("Submissions")[1] == port
    uid = server.create_user("mobsub", password="master password", address="mobsub@example.com")
    created = create_asp(server, uid, description="iPhone", generateMobileconfig=True)
    account = plistlib.loads(base64.b64decode(created["mobileconfig"]))["PayloadContent"][0]
    assert account["OutgoingMailServerPortNumber"] == port
    assert account["OutgoingMailServerUseSSL"] is True
