"""The filter and autoreply API as WildDuck defines it: /users/{user}/filters,
/users/{user}/filters/{filter}, /filters and /users/{user}/autoreply, their
JSON and their error codes; per-user filter limits; what deleting a user
takes with it."""

import pytest


def new_user(eider, name, **fields):
    return eider.create_user(name, address=f"{name}@example.com", **fields)


def mailbox_id(eider, uid, path):
    status, body = eider.api("GET", f"/users/{uid}/mailboxes")
    assert status == 200, body
    return next(m["id"] for m in body["results"] if m["path"] == path)


def create_filter(eider, uid, **body):
    status, resp = eider.api("POST", f"/users/{uid}/filters", body)
    assert status == 200 and resp.get("success"), (status, resp)
    assert len(resp["id"]) == 24
    return resp["id"]


def test_filter_lifecycle_and_descriptions(eider):
    uid = new_user(eider, "filterer")
    status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Lists"})
    assert status == 200, body
    lists = body["id"]
    first = create_filter(
        eider,
        uid,
        name="  Dev list  ",
        query={"listId": "<dev.lists.example>", "from": "  Andris   Reinman ", "ha": True},
        action={"mailbox": lists, "seen": True},
        metaData={"origin": "test"},
    )
    second = create_filter(
        eider,
        uid,
        query={"subject": "report", "text": "numbers", "size": -5000},
        action={"flag": False, "spam": True, "delete": False,
                "targets": ["copy@example.net", "https://hooks.example.com/in?k=1", "smtp://mx.example.net:2525"]},
        disabled="true",
    )

    status, body = eider.api("GET", f"/users/{uid}/filters")
    assert status == 200, body
    assert body["success"] is True
    assert body["limits"] == {"allowed": 400, "used": 2}
    assert [r["id"] for r in body["results"]] == [first, second]
    one, two = body["results"]
    assert one["name"] == "Dev list"
    assert one["disabled"] is False
    assert "metaData" not in one
    assert one["created"].endswith("Z")
    assert one["query"] == [["from", "(Andris Reinman)"], ["listId", "(<dev.lists.example>)"], ["has attachment"]]
    assert one["action"] == [["mark as read"], ["move to folder", '"Lists"']]
    assert two["name"] == ""
    assert two["disabled"] is True
    assert two["query"] == [["subject", "(report)"], [False, '"numbers"'], ["smaller", 5000]]
    assert two["action"] == [
        ["do not flag it"],
        ["forward to", "copy@example.net, hooks.example.com, smtp://mx.example.net:2525"],
        ["mark it as spam"],
        ["do not delete it"],
    ]
    status, body = eider.api("GET", f"/users/{uid}/filters?metaData=true")
    assert body["results"][0]["metaData"] == {"origin": "test"}

    status, body = eider.api("GET", f"/users/{uid}/filters/{first}")
    assert status == 200, body
    assert body == {
        "success": True,
        "id": first,
        "name": "Dev list",
        "created": one["created"],
        "query": {"from": "Andris Reinman", "listId": "<dev.lists.example>", "ha": True},
        "action": {"seen": True, "mailbox": lists},
        "disabled": False,
        "metaData": {"origin": "test"},
    }

    # PUT changes only what it names; an empty value removes that rule.
    status, body = eider.api(
        "PUT",
        f"/users/{uid}/filters/{second}",
        {"query": {"text": "", "to": "team@"}, "action": {"targets": "", "flag": True}, "disabled": False},
    )
    assert (status, body) == (200, {"success": True})
    status, body = eider.api("GET", f"/users/{uid}/filters/{second}")
    assert body["query"] == {"subject": "report", "to": "team@", "size": -5000}
    assert body["action"] == {"flag": True, "spam": True, "delete": False}
    assert body["disabled"] is False
    # An empty name leaves the name; a new one replaces it.
    eider.api("PUT", f"/users/{uid}/filters/{first}", {"name": ""})
    assert eider.api("GET", f"/users/{uid}/filters/{first}")[1]["name"] == "Dev list"
    eider.api("PUT", f"/users/{uid}/filters/{first}", {"name": "Renamed", "action": {"mailbox": ""}})
    status, body = eider.api("GET", f"/users/{uid}/filters/{first}")
    assert body["name"] == "Renamed"
    assert body["action"] == {"seen": True}

    status, body = eider.api("DELETE", f"/users/{uid}/filters/{first}")
    assert (status, body) == (200, {"success": True})
    status, body = eider.api("DELETE", f"/users/{uid}/filters/{first}")
    assert (status, body["code"]) == (404, "FilterNotFound")
    status, body = eider.api("GET", f"/users/{uid}/filters/{first}")
    assert (status, body["code"]) == (404, "FilterNotFound")
    status, body = eider.api("PUT", f"/users/{uid}/filters/{first}", {"disabled": True})
    assert (status, body["code"]) == (404, "FilterNotFound")
    status, body = eider.api("GET", f"/users/{uid}/filters")
    assert [r["id"] for r in body["results"]] == [second]
    assert body["limits"]["used"] == 1


def test_filter_errors_use_wildduck_codes(eider):
    uid = new_user(eider, "picky")
    other = new_user(eider, "other")
    theirs = mailbox_id(eider, other, "INBOX")
    ok = {"query": {"from": "x"}, "action": {"seen": True}}
    cases = [
        # (path, body, status, code)
        (f"/users/{uid}/filters", {"action": {"seen": True}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"from": "x"}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {}, "action": {"seen": True}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"from": "x"}, "action": {}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"nope": 1}, "action": {"seen": True}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"size": "big"}, "action": {"seen": True}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"from": "x" * 256}, "action": {"seen": True}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"from": "x"}, "action": {"targets": ["not a target"]}}, 400,
         "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"from": "x"}, "action": {"mailbox": "123"}}, 400, "InputValidationError"),
        (f"/users/{uid}/filters", {"query": {"from": "x"}, "action": {"mailbox": theirs}}, 404, "NoSuchMailbox"),
        ("/users/0123456789abcdef01234567/filters", ok, 404, "UserNotFound"),
        ("/users/nothex/filters", ok, 400, "InputValidationError"),
    ]
    for path, body, status, code in cases:
        got, resp = eider.api("POST", path, body)
        assert (got, resp.get("code")) == (status, code), (body, resp)
    status, body = eider.api("POST", f"/users/{uid}/filters",
                             {"query": {"from": "x"}, "action": {"targets": ["bad"]}})
    assert body["error"] == 'Unknown target type "bad"'
    assert "action.targets" in body["details"]
    status, body = eider.api("GET", "/users/0123456789abcdef01234567/filters")
    assert (status, body["code"]) == (404, "UserNotFound")
    status, body = eider.api("GET", f"/users/{uid}/filters/zzz")
    assert (status, body["code"]) == (400, "InputValidationError")
    # Another user's filter is not found through this user.
    fid = create_filter(eider, other, **ok)
    status, body = eider.api("GET", f"/users/{uid}/filters/{fid}")
    assert (status, body["code"]) == (404, "FilterNotFound")
    status, body = eider.api("DELETE", f"/users/{uid}/filters/{fid}")
    assert (status, body["code"]) == (404, "FilterNotFound")
    # A PUT that would leave the filter without any query is refused.
    mine = create_filter(eider, uid, **ok)
    status, body = eider.api("PUT", f"/users/{uid}/filters/{mine}", {"query": {"from": ""}})
    assert (status, body["code"]) == (400, "InputValidationError")
    status, body = eider.api("PUT", f"/users/{uid}/filters/{mine}", {"action": {"mailbox": theirs}})
    assert (status, body["code"]) == (404, "NoSuchMailbox")
    assert eider.api("GET", f"/users/{uid}/filters/{mine}")[1]["query"] == {"from": "x"}


def test_filter_limit_per_user(eider):
    uid = new_user(eider, "limited", filters=2)
    free = new_user(eider, "free")
    status, body = eider.api("GET", f"/users/{uid}")
    assert body["limits"]["filters"]["allowed"] == 2
    for i in range(2):
        create_filter(eider, uid, query={"subject": f"s{i}"}, action={"seen": True})
    status, body = eider.api("POST", f"/users/{uid}/filters", {"query": {"subject": "s2"}, "action": {"seen": True}})
    assert (status, body["code"]) == (403, "TooMany"), body
    assert body["error"] == "Maximum filters limit reached"
    status, body = eider.api("GET", f"/users/{uid}/filters")
    assert body["limits"] == {"allowed": 2, "used": 2}
    status, body = eider.api("GET", f"/users/{uid}")
    assert body["limits"]["filters"] == {"allowed": 2, "used": 2}
    # Other users are not affected; raising the limit makes room.
    create_filter(eider, free, query={"subject": "x"}, action={"seen": True})
    assert eider.api("PUT", f"/users/{uid}", {"filters": 3})[0] == 200
    create_filter(eider, uid, query={"subject": "s2"}, action={"seen": True})
    status, body = eider.api("GET", f"/users/{uid}/filters")
    assert body["limits"] == {"allowed": 3, "used": 3}


def test_listing_all_filters(eider):
    a = new_user(eider, "lister-a")
    b = new_user(eider, "lister-b")
    ids = []
    for i, (uid, targets) in enumerate(
        [(a, ["https://hooks.example/A1"]), (b, []), (a, ["copy@example.net"]), (b, ["https://hooks.example/B1"])]
    ):
        ids.append(create_filter(eider, uid, name=f"f{i}", query={"subject": f"s{i}"},
                                 action={"seen": True, "targets": targets} if targets else {"seen": True},
                                 metaData={"n": i}))
    status, body = eider.api("GET", "/filters")
    assert status == 200, body
    assert body["total"] == 4
    assert body["page"] == 1
    assert body["previousCursor"] is False and body["nextCursor"] is False
    assert [r["id"] for r in body["results"]] == ids
    first = body["results"][0]
    assert first["user"] == a
    assert first["targets"] == ["https://hooks.example/A1"]
    assert first["action"] == [["mark as read"], ["forward to", "hooks.example"]]
    assert "metaData" not in first
    assert body["results"][1]["targets"] == []

    status, body = eider.api("GET", "/filters?forward=hooks.example&metaData=true")
    assert [r["id"] for r in body["results"]] == [ids[0], ids[3]]
    assert body["total"] == 2
    assert [r["metaData"] for r in body["results"]] == [{"n": 0}, {"n": 3}]
    status, body = eider.api("GET", "/filters?forward=HOOKS")
    assert body["total"] == 0

    # Cursor paging.
    status, page1 = eider.api("GET", "/filters?limit=3")
    assert [r["id"] for r in page1["results"]] == ids[:3]
    assert page1["previousCursor"] is False
    status, page2 = eider.api("GET", f"/filters?limit=3&next={page1['nextCursor']}&page=2")
    assert [r["id"] for r in page2["results"]] == ids[3:]
    assert page2["nextCursor"] is False
    assert page2["page"] == 2
    status, back = eider.api("GET", f"/filters?limit=3&previous={page2['previousCursor']}")
    assert [r["id"] for r in back["results"]] == ids[:3]
    status, body = eider.api("GET", "/filters?limit=0")
    assert (status, body["code"]) == (400, "InputValidationError")

    # A user's token reaches its own filters only: GET /filters lists them (WildDuck's
    # readOwn), /users/{other}/filters is refused.
    status, auth = eider.api("POST", "/authenticate",
                             {"username": "lister-b", "password": "secret-pass", "token": True})
    assert status == 200, auth
    status, body = eider.api("GET", "/filters", token=auth["token"])
    assert status == 200, body
    assert [r["id"] for r in body["results"]] == [ids[1], ids[3]]
    status, body = eider.api("GET", f"/users/{a}/filters", token=auth["token"])
    assert status == 403, body
    status, body = eider.api("GET", "/users/me/filters", token=auth["token"])
    assert [r["id"] for r in body["results"]] == [ids[1], ids[3]]

    # Deleting a user deletes its filters.
    assert eider.api("DELETE", f"/users/{a}")[0] == 200
    status, body = eider.api("GET", "/filters")
    assert [r["id"] for r in body["results"]] == [ids[1], ids[3]]


def test_autoreply_settings(eider):
    uid = new_user(eider, "vacation")
    status, body = eider.api("GET", f"/users/{uid}/autoreply")
    assert (status, body) == (200, {
        "success": True, "status": False, "name": "", "subject": "", "text": "", "html": "",
        "start": False, "end": False, "created": False,
    })
    status, body = eider.api("PUT", f"/users/{uid}/autoreply", {
        "status": True, "name": "Ülle Away", "subject": "Out of office", "text": "Back on Monday.",
        "html": "<p>Back on Monday.</p>", "start": "2024-01-01T00:00:00Z", "end": "2030-01-01T10:00:00.000Z",
    })
    assert status == 200 and body["success"], body
    reply_id = body["id"]
    assert len(reply_id) == 24
    assert eider.api("GET", f"/users/{uid}")[1]["autoreply"] is True
    status, body = eider.api("GET", f"/users/{uid}/autoreply")
    created = body.pop("created")
    assert created.endswith(".000Z")
    assert body == {
        "success": True, "status": True, "name": "Ülle Away", "subject": "Out of office",
        "text": "Back on Monday.", "html": "<p>Back on Monday.</p>",
        "start": "2024-01-01T00:00:00.000Z", "end": "2030-01-01T10:00:00.000Z",
    }
    # A partial update keeps the rest and the record's id; false clears a date.
    status, body = eider.api("PUT", f"/users/{uid}/autoreply", {"subject": "", "start": False})
    assert (status, body["id"]) == (200, reply_id)
    status, body = eider.api("GET", f"/users/{uid}/autoreply")
    assert (body["subject"], body["start"], body["text"], body["status"]) == ("", False, "Back on Monday.", True)
    assert body["end"] == "2030-01-01T10:00:00.000Z"

    for bad in ({"status": "maybe"}, {"start": "someday"}, {"name": "x" * 129}):
        status, body = eider.api("PUT", f"/users/{uid}/autoreply", bad)
        assert (status, body["code"]) == (400, "InputValidationError"), (bad, body)
    status, body = eider.api("PUT", f"/users/{uid}/autoreply", {"subject": "y" * 2049})
    assert "subject" in body["details"], body

    assert eider.api("DELETE", f"/users/{uid}/autoreply") == (200, {"success": True})
    assert eider.api("GET", f"/users/{uid}")[1]["autoreply"] is False
    status, body = eider.api("GET", f"/users/{uid}/autoreply")
    assert (body["status"], body["text"], body["created"]) == (False, "", False)
    # Deleting again is fine; unknown users are not.
    assert eider.api("DELETE", f"/users/{uid}/autoreply")[0] == 200
    for method, body in (("GET", None), ("PUT", {"status": True}), ("DELETE", None)):
        status, resp = eider.api(method, "/users/0123456789abcdef01234567/autoreply", body)
        assert (status, resp["code"]) == (404, "UserNotFound"), (method, resp)


@pytest.mark.parametrize("path", ["/users/{u}/filters", "/users/{u}/autoreply"])
def test_documented_in_openapi(eider, path):
    status, doc = eider.api("GET", "/openapi.json")
    assert status == 200
    assert path.replace("{u}", "{user}") in doc["paths"]
    assert "/filters" in doc["paths"]
    assert "/users/{user}/filters/{filter}" in doc["paths"]
