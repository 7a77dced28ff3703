"""WildDuck's answers in the small things (issue 14): hidden mailboxes, invalid
input to the resolve routes, and lower-cased usernames."""

import imaplib

from imaputil import PASSWORD


def test_hidden_mailboxes_are_kept_from_imap(eider):
    uid = eider.create_user("hider")
    status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Secret", "hidden": True})
    assert status == 200, body
    _, listing = eider.api("GET", f"/users/{uid}/mailboxes")
    assert "Secret" not in [m["path"] for m in listing["results"]]
    _, listing = eider.api("GET", f"/users/{uid}/mailboxes?showHidden=true")
    assert [m["hidden"] for m in listing["results"] if m["path"] == "Secret"] == [True]

    host, port = eider.hostport("IMAP")
    c = imaplib.IMAP4(host, port)
    c.login("hider", PASSWORD)
    typ, names = c.list()
    assert typ == "OK" and not any(b"Secret" in n for n in names), names
    # WildDuck: a hidden folder can not be opened in IMAP.
    for readonly in (False, True):
        typ, data = c.select("Secret", readonly=readonly)
        assert typ == "NO" and b"[CANNOT]" in data[0], (typ, data)
    typ, data = c.select("INBOX")
    assert typ == "OK"
    c.logout()


def test_resolve_routes_refuse_invalid_input_with_400(eider):
    uid = eider.create_user("resolver", address="resolver@example.com")
    for name in ("%C3%B6myuser", "a%20b", "dots..twice", ".lead"):
        status, body = eider.api("GET", f"/users/resolve/{name}")
        assert (status, body["code"]) == (400, "InputValidationError"), (name, body)
        assert "username" in body["details"], body
    assert eider.api("GET", "/users/resolve/nobody")[0] == 404
    assert eider.api("GET", "/users/resolve/Resolver")[1]["id"] == uid
    assert eider.api("GET", "/users/resolve/resolver@example.com")[1]["id"] == uid

    for path in ("INBOX/", "a//b"):
        status, body = eider.api("GET", f"/users/{uid}/mailboxes/resolve?path={path}")
        assert (status, body["code"]) == (400, "InputValidationError"), (path, body)
    assert eider.api("GET", f"/users/{uid}/mailboxes/resolve?path=Nope")[0] == 404
    assert eider.api("GET", f"/users/{uid}/mailboxes/resolve?path=INBOX")[0] == 200

    status, body = eider.api("GET", "/addresses/resolve/not-an-address")
    assert (status, body["code"]) == (400, "InputValidationError"), body
    assert eider.api("GET", "/addresses/resolve/nobody@example.com")[0] == 404
    assert eider.api("GET", "/addresses/resolve/resolver@example.com")[1]["user"] == uid


def test_usernames_are_stored_lower_case(eider):
    uid = eider.create_user("Mixed.Case")
    _, user = eider.api("GET", f"/users/{uid}")
    assert user["username"] == "mixed.case"
    # Logins take any case, as before.
    host, port = eider.hostport("IMAP")
    c = imaplib.IMAP4(host, port)
    c.login("MIXED.case", PASSWORD)
    c.logout()
