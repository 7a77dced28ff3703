"""GET /users/{user}/authlog and /authlog/{event}: every attempt recorded with
protocol, IP, result, source and scope; similar events merged; filters, paging and
errors."""

from auth_util import authenticate, imap_login


def test_authlog_records_and_merges(eider):
    uid = eider.create_user("logged", password="master password")
    for _ in range(3):
        authenticate(eider, "logged", "wrong", ip="198.51.100.1", sess="s1")
    authenticate(eider, "logged", "master password", ip="198.51.100.1", protocol="Webmail")
    ok, client = imap_login(eider, "logged", "master password")
    assert ok
    client.logout()

    status, log = eider.api("GET", f"/users/{uid}/authlog")
    assert status == 200 and log["success"] and log["page"] == 1
    results = log["results"]
    assert log["total"] == len(results) == 3
    newest = results[0]
    assert newest["protocol"] == "IMAP" and newest["result"] == "success" and newest["ip"] == "127.0.0.1"
    assert newest["source"] == "master" and newest["requiredScope"] == "imap"
    failed = [e for e in results if e["result"] == "fail"][0]
    assert failed["events"] == 3 and failed["ip"] == "198.51.100.1" and failed["sess"] == "s1"
    assert failed["protocol"] == "API" and failed["requiredScope"] == "master"
    webmail = [e for e in results if e.get("protocol") == "Webmail"][0]
    assert webmail["result"] == "success"
    for field in ["id", "action", "created", "last", "expires", "events"]:
        assert field in failed

    status, one = eider.api("GET", f"/users/{uid}/authlog/{failed['id']}")
    assert status == 200 and one["success"] and one["id"] == failed["id"] and one["events"] == 3

    status, only_ip = eider.api("GET", f"/users/{uid}/authlog?filterip=127.0.0.1")
    assert [e["id"] for e in only_ip["results"]] == [newest["id"]]

    status, page1 = eider.api("GET", f"/users/{uid}/authlog?limit=2")
    assert len(page1["results"]) == 2 and page1["nextCursor"] and page1["previousCursor"] is False
    status, page2 = eider.api("GET", f"/users/{uid}/authlog?limit=2&next={page1['nextCursor']}")
    assert len(page2["results"]) == 1 and page2["nextCursor"] is False
    assert page2["results"][0]["id"] not in {e["id"] for e in page1["results"]}


def test_authlog_actions_and_errors(eider):
    uid = eider.create_user("actions", password="master password")
    eider.api("POST", f"/users/{uid}/asps", {"description": "x", "ip": "203.0.113.5"})
    status, log = eider.api("GET", f"/users/{uid}/authlog?action=create%20asp")
    assert status == 200 and log["action"] == "create asp"
    [entry] = log["results"]
    assert entry["aname"] == "x" and entry["ip"] == "203.0.113.5"

    status, body = eider.api("GET", f"/users/{uid}/authlog/000000000000000000000000")
    assert status == 404 and body["code"] == "EventNotFound"
    status, body = eider.api("GET", f"/users/{uid}/authlog/not-an-id")
    assert status == 400 and body["code"] == "InputValidationError"
    status, body = eider.api("GET", "/users/000000000000000000000000/authlog")
    assert status == 404 and body["code"] == "UserNotFound"
    other = eider.create_user("other", password="master password")
    status, body = eider.api("GET", f"/users/{other}/authlog/{entry['id']}")
    assert status == 404
