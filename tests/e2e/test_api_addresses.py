"""HTTP API, addresses: user addresses, forwarded addresses, resolving,
domain renames, domain aliases and the address register."""

ZERO = "0" * 24


def assert_error(resp, status, code):
    got, body = resp
    assert (got, body.get("code")) == (status, code), body
    return body


def test_user_addresses(eider):
    uid = eider.create_user("alice", address="alice@example.com")
    status, body = eider.api("POST", f"/users/{uid}/addresses",
                             {"address": "Alias@Example.com", "name": "Ali", "tags": ["t1"], "metaData": {"a": 1}})
    assert status == 200 and body["success"]
    aid = body["id"]
    status, listing = eider.api("GET", f"/users/{uid}/addresses?metaData=true")
    assert status == 200
    by_addr = {a["address"]: a for a in listing["results"]}
    assert by_addr["alice@example.com"]["main"] is True
    alias = by_addr["Alias@example.com"]
    assert alias == {"id": aid, "name": "Ali", "address": "Alias@example.com", "main": False,
                     "created": alias["created"], "tags": ["t1"], "metaData": {"a": 1}}
    status, one = eider.api("GET", f"/users/{uid}/addresses/{aid}")
    assert status == 200 and one["address"] == "Alias@example.com" and one["success"]
    # rename and make main
    assert eider.api("PUT", f"/users/{uid}/addresses/{aid}", {"address": "renamed@example.com", "main": True}) == \
        (200, {"success": True})
    _, user = eider.api("GET", f"/users/{uid}")
    assert user["address"] == "renamed@example.com"
    main_id = [a["id"] for a in eider.api("GET", f"/users/{uid}/addresses")[1]["results"]
               if a["address"] == "alice@example.com"][0]
    assert eider.api("DELETE", f"/users/{uid}/addresses/{main_id}")[0] == 200
    assert_error(eider.api("DELETE", f"/users/{uid}/addresses/{aid}"), 400, "NotPermitted")


def test_address_errors(eider):
    uid = eider.create_user("bob", address="bob@example.com")
    other = eider.create_user("carol", address="carol@example.com")
    assert_error(eider.api("POST", f"/users/{uid}/addresses", {"address": "B.O.B@example.com"}), 400,
                 "AddressExistsError")
    body = assert_error(eider.api("POST", f"/users/{uid}/addresses", {"address": "not-an-address"}), 400,
                        "InputValidationError")
    assert "address" in body["details"]
    assert_error(eider.api("POST", f"/users/{uid}/addresses", {"address": "*@example.org"}), 400,
                 "InputValidationError")
    assert eider.api("POST", f"/users/{uid}/addresses", {"address": "*@example.org", "allowWildcard": True})[0] == 200
    assert_error(eider.api("POST", f"/users/{uid}/addresses", {}), 400, "InputValidationError")
    assert_error(eider.api("POST", f"/users/{ZERO}/addresses", {"address": "x@example.com"}), 404, "UserNotFound")
    assert_error(eider.api("GET", f"/users/{uid}/addresses/{ZERO}"), 404, "AddressNotFound")
    assert_error(eider.api("GET", f"/users/{uid}/addresses/nothex"), 400, "InputValidationError")
    # another user's address is not found through this user
    carol_addr = eider.api("GET", f"/users/{other}/addresses")[1]["results"][0]["id"]
    assert_error(eider.api("GET", f"/users/{uid}/addresses/{carol_addr}"), 404, "AddressNotFound")
    assert_error(eider.api("PUT", f"/users/{uid}/addresses/{carol_addr}", {"name": "x"}), 404, "AddressNotFound")
    assert_error(eider.api("DELETE", f"/users/{uid}/addresses/{carol_addr}"), 404, "AddressNotFound")
    assert_error(eider.api("PUT", f"/users/{uid}/addresses/{carol_addr}", {"metaData": 5}), 400,
                 "InputValidationError")


def test_list_and_resolve(eider):
    uid = eider.create_user("dave", address="dave@example.com")
    eider.api("POST", f"/users/{uid}/addresses", {"address": "d2@example.net", "tags": ["x"]})
    status, page = eider.api("GET", "/addresses?query=example.net")
    assert status == 200 and page["total"] == 1
    entry = page["results"][0]
    assert entry["address"] == "d2@example.net" and entry["user"] == uid and entry["forwarded"] is False
    assert page["nextCursor"] is False and page["previousCursor"] is False
    _, tagged = eider.api("GET", "/addresses?tags=x")
    assert [a["address"] for a in tagged["results"]] == ["d2@example.net"]
    status, resolved = eider.api("GET", "/addresses/resolve/DAVE@example.com")
    assert status == 200 and resolved["user"] == uid and resolved["address"] == "dave@example.com"
    assert eider.api("GET", f"/addresses/resolve/{resolved['id']}")[1]["id"] == resolved["id"]
    assert_error(eider.api("GET", "/addresses/resolve/dave+tag@example.com"), 404, "AddressNotFound")
    assert eider.api("GET", "/addresses/resolve/dave+tag@example.com?allowWildcard=true")[1]["user"] == uid
    assert_error(eider.api("GET", "/addresses/resolve/nobody@example.com"), 404, "AddressNotFound")


def test_forwarded_addresses(eider):
    status, body = eider.api("POST", "/addresses/forwarded", {
        "address": "fwd@example.com", "targets": ["one@example.org", "smtp://mx.example.org:25"],
        "forwards": 50, "tags": ["f"], "metaData": {"m": True}})
    assert status == 200
    fid = body["id"]
    status, info = eider.api("GET", f"/addresses/forwarded/{fid}")
    assert status == 200
    assert info["targets"] == ["one@example.org", "smtp://mx.example.org:25"]
    assert info["limits"]["forwards"]["allowed"] == 50
    assert info["metaData"] == {"m": True}
    assert info["autoreply"]["status"] is False
    assert eider.api("PUT", f"/addresses/forwarded/{fid}", {"targets": ["two@example.org"], "name": "F"})[0] == 200
    assert eider.api("GET", f"/addresses/forwarded/{fid}")[1]["targets"] == ["two@example.org"]
    assert eider.api("GET", "/addresses?query=fwd@")[1]["results"][0]["forwarded"] is True
    assert_error(eider.api("POST", "/addresses/forwarded", {"address": "fwd@example.com"}), 400,
                 "AddressExistsError")
    assert_error(eider.api("POST", "/addresses/forwarded", {"address": "x@example.com", "targets": ["bad target"]}),
                 400, "InputValidationError")
    assert eider.api("DELETE", f"/addresses/forwarded/{fid}") == (200, {"success": True})
    assert_error(eider.api("GET", f"/addresses/forwarded/{fid}"), 404, "AddressNotFound")
    assert_error(eider.api("DELETE", f"/addresses/forwarded/{fid}"), 404, "AddressNotFound")
    # a user's address is not a forwarded one
    uid = eider.create_user("erin", address="erin@example.com")
    aid = eider.api("GET", f"/users/{uid}/addresses")[1]["results"][0]["id"]
    assert_error(eider.api("GET", f"/addresses/forwarded/{aid}"), 404, "AddressNotFound")


def test_rename_domain(eider):
    uid = eider.create_user("frank", address="frank@old.example")
    eider.api("POST", f"/users/{uid}/addresses", {"address": "f2@old.example"})
    eider.api("POST", "/domainaliases", {"alias": "alias.example", "domain": "old.example"})
    status, body = eider.api("PUT", "/addresses/renameDomain", {"oldDomain": "old.example", "newDomain": "new.example"})
    assert status == 200
    assert body["modifiedAddresses"] == 2 and body["modifiedUsers"] == 1 and body["modifiedAliases"] == 1
    assert eider.api("GET", f"/users/{uid}")[1]["address"] == "frank@new.example"
    assert eider.api("GET", "/addresses/resolve/f2@new.example")[0] == 200
    assert eider.api("GET", "/domainaliases?query=alias")[1]["results"][0]["domain"] == "new.example"
    assert_error(eider.api("PUT", "/addresses/renameDomain", {"oldDomain": "old.example"}), 400,
                 "InputValidationError")


def test_domain_aliases(eider):
    status, body = eider.api("POST", "/domainaliases", {"alias": "Alias.Example", "domain": "example.com"})
    assert status == 200
    did = body["id"]
    assert_error(eider.api("POST", "/domainaliases", {"alias": "alias.example", "domain": "example.com"}), 400,
                 "AliasExists")
    assert_error(eider.api("POST", "/domainaliases", {"alias": "a..b", "domain": "example.com"}), 400,
                 "InputValidationError")
    assert eider.api("GET", "/domainaliases/resolve/alias.example") == (200, {"success": True, "id": did})
    status, info = eider.api("GET", f"/domainaliases/{did}")
    assert status == 200 and info["alias"] == "alias.example" and info["domain"] == "example.com" and info["created"]
    for i in range(3):
        eider.api("POST", "/domainaliases", {"alias": f"a{i}.example", "domain": "example.com"})
    _, page = eider.api("GET", "/domainaliases?limit=2")
    assert page["total"] == 4 and len(page["results"]) == 2 and isinstance(page["nextCursor"], str)
    _, page2 = eider.api("GET", f"/domainaliases?limit=2&next={page['nextCursor']}")
    assert len(page2["results"]) == 2 and page2["nextCursor"] is False
    assert not {a["id"] for a in page["results"]} & {a["id"] for a in page2["results"]}
    assert eider.api("DELETE", f"/domainaliases/{did}") == (200, {"success": True})
    assert_error(eider.api("GET", f"/domainaliases/{did}"), 404, "AliasNotFound")
    assert_error(eider.api("GET", "/domainaliases/resolve/alias.example"), 404, "AliasNotFound")
    assert_error(eider.api("DELETE", f"/domainaliases/{did}"), 404, "AliasNotFound")
    assert_error(eider.api("GET", "/domainaliases/xyz"), 400, "InputValidationError")


def test_address_register_is_empty(eider):
    uid = eider.create_user("grace")
    assert eider.api("GET", f"/users/{uid}/addressregister?query=jo") == (200, {"success": True, "results": []})
    assert_error(eider.api("GET", f"/users/{uid}/addressregister"), 400, "InputValidationError")
    assert_error(eider.api("GET", f"/users/{ZERO}/addressregister?query=x"), 404, "UserNotFound")
