"""Subscriptions as names (RFC 3501 6.3.6, RFC 5258): a deleted mailbox stays
subscribed until UNSUBSCRIBE, LSUB and LIST (SUBSCRIBED) show such names (the
latter as \\NonExistent), RENAME moves subscriptions, RECURSIVEMATCH answers
CHILDINFO, and the HTTP API's `subscribed` is the same list."""

from imaputil import raw_login, tagged


def listed(lines):
    """{name: attributes} of LIST/LSUB lines, plus {name: extended data}."""
    attrs, extra = {}, {}
    for line in lines[:-1]:
        if not (line.startswith(b"* LIST ") or line.startswith(b"* LSUB ")):
            continue
        head, rest = line.split(b") ", 1)
        flags = head.split(b"(", 1)[1].split()
        name_and_more = rest.split(b" ", 1)[1]
        if name_and_more.startswith(b'"'):
            end = name_and_more.index(b'"', 1)
            name, more = name_and_more[1:end], name_and_more[end + 1:]
        else:
            name, _, more = name_and_more.partition(b" ")
        attrs[name.decode()] = set(flags)
        extra[name.decode()] = more.strip()
    return attrs, extra


def ok_cmd(r, text):
    lines = r.cmd(text)
    assert tagged(lines)[0] == "OK", lines
    return lines


def test_deleted_mailbox_stays_subscribed(eider):
    r = raw_login(eider)
    ok_cmd(r, 'CREATE "Lists/Rust"')
    ok_cmd(r, 'SUBSCRIBE "Lists/Rust"')
    ok_cmd(r, 'DELETE "Lists/Rust"')
    # LIST (SUBSCRIBED): the name, subscribed and not existing (no \Noselect: implied).
    attrs, _ = listed(ok_cmd(r, 'LIST (SUBSCRIBED) "" "Lists/*"'))
    assert attrs == {"Lists/Rust": {b"\\Subscribed", b"\\NonExistent"}}
    # RETURN (SUBSCRIBED) alone lists mailboxes only.
    attrs, _ = listed(ok_cmd(r, 'LIST "" "Lists/*" RETURN (SUBSCRIBED)'))
    assert attrs == {}
    # LSUB lists it; a plain LIST does not.
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "*"'))
    assert "Lists/Rust" in attrs and b"\\Noselect" not in attrs["Lists/Rust"]
    attrs, _ = listed(ok_cmd(r, 'LIST "" "*"'))
    assert "Lists/Rust" not in attrs
    # Re-created (CREATE does not subscribe), it is subscribed through the kept name.
    ok_cmd(r, 'CREATE "Lists/Rust"')
    attrs, _ = listed(ok_cmd(r, 'LIST (SUBSCRIBED) "" "Lists/*"'))
    assert attrs == {"Lists/Rust": {b"\\Subscribed", b"\\HasNoChildren"}}
    ok_cmd(r, 'DELETE "Lists/Rust"')
    # UNSUBSCRIBE takes the name without its mailbox, and again (idempotent).
    ok_cmd(r, 'UNSUBSCRIBE "Lists/Rust"')
    ok_cmd(r, 'UNSUBSCRIBE "Lists/Rust"')
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "*"'))
    assert "Lists/Rust" not in attrs
    # SUBSCRIBE still wants an existing mailbox.
    lines = r.cmd('SUBSCRIBE "Lists/Rust"')
    assert tagged(lines)[0] == "NO" and b"NONEXISTENT" in lines[-1]
    r.close()


def test_lsub_hierarchy_and_recursivematch(eider):
    r = raw_login(eider)
    for name in ["P", "P/a", "P/b/c", "Q/q"]:
        ok_cmd(r, f'CREATE "{name}"')
    for name in ["P/a", "P/b/c", "Q/q"]:
        ok_cmd(r, f'SUBSCRIBE "{name}"')
    ok_cmd(r, 'DELETE "Q/q"')
    # LSUB %: unsubscribed parents of subscribed names are \Noselect.
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "%"'))
    assert attrs["P"] == {b"\\Noselect"} and attrs["Q"] == {b"\\Noselect"}
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "P/*"'))
    assert set(attrs) == {"P/a", "P/b/c"}
    # LIST (SUBSCRIBED RECURSIVEMATCH) %: parents with unreached subscribed children.
    attrs, extra = listed(ok_cmd(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)'))
    assert extra["P"] == b'("CHILDINFO" ("SUBSCRIBED"))' and b"\\HasChildren" in attrs["P"]
    assert b"\\Subscribed" not in attrs["P"]
    # Q exists (CREATE made the parent) and its subscribed child was deleted.
    assert extra["Q"] == b'("CHILDINFO" ("SUBSCRIBED"))'
    # A pattern that reaches the subscribed child lists it, not the parent.
    attrs, extra = listed(ok_cmd(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" ("P" "P/a" "P/b/c")'))
    assert set(attrs) == {"P/a", "P/b/c"}
    attrs, extra = listed(ok_cmd(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "P/%"'))
    assert attrs["P/a"] >= {b"\\Subscribed"} and extra["P/a"] == b""
    assert extra["P/b"] == b'("CHILDINFO" ("SUBSCRIBED"))'
    # Without RECURSIVEMATCH only subscribed names come back.
    attrs, _ = listed(ok_cmd(r, 'LIST (SUBSCRIBED) "" "%"'))
    assert "P" not in attrs and "Q" not in attrs
    r.close()


def test_rename_moves_subscriptions(eider):
    r = raw_login(eider)
    ok_cmd(r, 'CREATE "Work/2024"')
    ok_cmd(r, 'SUBSCRIBE "Work"')
    ok_cmd(r, 'SUBSCRIBE "Work/2024"')
    ok_cmd(r, 'CREATE "Other"')
    ok_cmd(r, 'RENAME "Work" "Jobs"')
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "*"'))
    assert "Jobs" in attrs and "Jobs/2024" in attrs
    assert "Work" not in attrs and "Work/2024" not in attrs
    attrs, _ = listed(ok_cmd(r, 'LIST "" "*" RETURN (SUBSCRIBED)'))
    assert b"\\Subscribed" in attrs["Jobs/2024"] and b"\\Subscribed" not in attrs["Other"]
    # An unsubscribed mailbox renamed stays unsubscribed.
    ok_cmd(r, 'RENAME "Other" "Else"')
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "*"'))
    assert "Else" not in attrs and "Other" not in attrs
    r.close()


def test_api_subscribed_is_the_imap_list(eider):
    uid = eider.create_user("alice", "secret-pass")
    r = raw_login(eider, create=False)
    ok_cmd(r, 'CREATE "News"')

    def api_boxes():
        status, body = eider.api("GET", f"/users/{uid}/mailboxes")
        assert status == 200, body
        return {m["path"]: m for m in body["results"]}

    assert api_boxes()["News"]["subscribed"] is False
    ok_cmd(r, 'SUBSCRIBE "News"')
    assert api_boxes()["News"]["subscribed"] is True
    ok_cmd(r, 'UNSUBSCRIBE "News"')
    assert api_boxes()["News"]["subscribed"] is False
    # And the other way round.
    news = api_boxes()["News"]["id"]
    assert eider.api("PUT", f"/users/{uid}/mailboxes/{news}", {"subscribed": True})[0] == 200
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "News"'))
    assert "News" in attrs
    assert eider.api("PUT", f"/users/{uid}/mailboxes/{news}", {"subscribed": False})[0] == 200
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "News"'))
    assert attrs == {}
    # Mailboxes the API creates are subscribed (WildDuck's default).
    status, body = eider.api("POST", f"/users/{uid}/mailboxes", {"path": "Made/ByApi"})
    assert status == 200, body
    attrs, _ = listed(ok_cmd(r, 'LIST (SUBSCRIBED) "" "Made/*"'))
    assert b"\\Subscribed" in attrs["Made/ByApi"]
    # A rename through the API moves the subscription too.
    assert eider.api("PUT", f"/users/{uid}/mailboxes/{body['id']}", {"path": "Made/Renamed"})[0] == 200
    attrs, _ = listed(ok_cmd(r, 'LSUB "" "Made/*"'))
    assert set(attrs) == {"Made/Renamed"}
    assert api_boxes()["Made/Renamed"]["subscribed"] is True
    r.close()
