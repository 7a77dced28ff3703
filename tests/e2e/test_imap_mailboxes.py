"""Mailbox commands: LIST/LSUB/XLIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE),
CREATE (parents, USE), DELETE, RENAME (children, INBOX), SUBSCRIBE, STATUS,
SELECT/EXAMINE, QUOTA, modified UTF-7 names."""

import imaplib

import pytest

from imaputil import SIMPLE, login, make_message, ok, raw_login, tagged


def names(list_data):
    out = []
    for line in list_data:
        if line is None:
            continue
        out.append(line.rsplit(b' "/" ', 1)[1].strip(b'"').decode())
    return out


def attrs_of(list_data, name):
    for line in list_data:
        if line.endswith(b'"' + name.encode() + b'"'):
            return line.split(b")")[0].strip(b"(").split()
    raise AssertionError(f"{name} not listed in {list_data}")


def test_default_folders_and_special_use(eider):
    m = login(eider)
    data = ok(m.list())
    assert names(data) == ["INBOX", "Drafts", "Junk", "Sent Mail", "Trash"]
    assert b"\\Trash" in attrs_of(data, "Trash")
    assert b"\\Sent" in attrs_of(data, "Sent Mail")
    assert b"\\HasNoChildren" in attrs_of(data, "INBOX")
    data = ok(m.list('""', '""'))
    assert data == [b'(\\Noselect) "/" ""']


def test_create_delete_rename_children(eider):
    m = login(eider)
    ok(m.create("Projects/2024/Q1"))
    data = ok(m.list())
    assert {"Projects", "Projects/2024", "Projects/2024/Q1"} <= set(names(data))
    assert b"\\HasChildren" in attrs_of(data, "Projects")
    typ, data = m.create("Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    ok(m.rename("Projects", "Work"))
    data = names(ok(m.list()))
    assert "Work/2024/Q1" in data and "Projects" not in data
    typ, data = m.rename("Nope", "Other")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = m.rename("Work", "Trash")
    assert typ == "NO"
    ok(m.delete("Work/2024/Q1"))
    assert "Work/2024/Q1" not in names(ok(m.list()))
    typ, _ = m.delete("INBOX")
    assert typ == "NO"
    typ, _ = m.delete("Trash")
    assert typ == "NO"
    typ, data = m.delete("Missing")
    assert typ == "NO" and b"NONEXISTENT" in data[0]


def test_rename_inbox_moves_messages(eider):
    m = login(eider)
    for i in range(3):
        ok(m.append("INBOX", None, None, make_message(i)))
    ok(m.rename("INBOX", '"Old Inbox"'))
    typ, data = m.select("INBOX")
    assert data == [b"0"]
    typ, data = m.select('"Old Inbox"')
    assert data == [b"3"]


def test_list_patterns(eider):
    m = login(eider)
    for p in ["a/b/c", "a/x", "ab"]:
        ok(m.create(p))
    assert names(ok(m.list('""', "a/%"))) == ["a/b", "a/x"]
    assert names(ok(m.list('""', "a/*"))) == ["a/b", "a/b/c", "a/x"]
    assert names(ok(m.list("a/", "%"))) == ["a/b", "a/x"]
    assert names(ok(m.list('""', "inbox"))) == ["INBOX"]
    assert "a" in names(ok(m.list('""', "%")))
    ok(m.delete("a"))
    # "a" is gone but its children stay: % lists it as a \Noselect placeholder.
    data = ok(m.list('""', "%"))
    assert b"\\Noselect" in attrs_of(data, "a")
    assert "a" not in names(ok(m.list('""', "*")))


def test_subscribe_and_lsub(eider):
    m = login(eider)
    ok(m.create("Lists/Rust"))
    # CREATE does not subscribe (RFC 3501); the default folders are subscribed.
    assert "Lists/Rust" not in names(ok(m.lsub()))
    ok(m.subscribe("Lists/Rust"))
    ok(m.unsubscribe("Junk"))
    assert "Junk" not in names(ok(m.lsub()))
    assert "Lists/Rust" in names(ok(m.lsub()))
    data = ok(m.lsub('""', "%"))
    assert b"\\Noselect" in attrs_of(data, "Lists")
    ok(m.subscribe("Junk"))
    assert "Junk" in names(ok(m.lsub()))
    typ, _ = m.subscribe("Missing")
    assert typ == "NO"


def test_list_extended_and_status(eider):
    r = raw_login(eider)
    r.cmd("UNSUBSCRIBE Junk")
    lines = r.cmd('LIST (SUBSCRIBED) "" "*"')
    assert all(b"\\Subscribed" in l for l in lines[:-1])
    assert not any(l.endswith(b'"Junk"') for l in lines)
    lines = r.cmd('LIST (SPECIAL-USE) "" "*"')
    listed = [l.rsplit(b' "/" ', 1)[1] for l in lines[:-1]]
    assert listed == [b'"Drafts"', b'"Junk"', b'"Sent Mail"', b'"Trash"']
    lines = r.cmd('LIST "" ("INBOX" "Trash") RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))')
    assert lines[0].startswith(b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"')
    assert lines[1].startswith(b'* STATUS "INBOX" (MESSAGES 0 UNSEEN 0)')
    assert b"\\Trash" in lines[2]
    assert tagged(lines)[0] == "OK"
    lines = r.cmd('XLIST "" "*"')
    assert lines[0].startswith(b"* XLIST (") and b"\\Inbox" in lines[0]
    assert any(b"\\Spam" in l for l in lines)
    assert tagged(r.cmd('LIST (BOGUS) "" "*"'))[0] == "BAD"


def test_create_special_use(eider):
    r = raw_login(eider)
    assert tagged(r.cmd("CREATE Archive (USE (\\Archive))"))[0] == "OK"
    lines = r.cmd('LIST "" Archive')
    assert b"\\Archive" in lines[0]
    lines = r.cmd("CREATE Weird (USE (\\Bogus))")
    assert b" NO [USEATTR]" in lines[-1]


def test_status(eider):
    m = login(eider)
    ok(m.append("INBOX", "(\\Seen)", None, SIMPLE))
    ok(m.append("INBOX", None, None, make_message(2)))
    data = ok(m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE APPENDLIMIT)"))
    text = data[0].decode()
    assert "MESSAGES 2" in text and "UNSEEN 1" in text and "UIDNEXT 3" in text
    assert "RECENT 2" in text
    assert f"SIZE {len(SIMPLE) + len(make_message(2))}" in text or "SIZE " in text
    typ, data = m.status("Missing", "(MESSAGES)")
    assert typ == "NO"
    with pytest.raises(imaplib.IMAP4.error):
        m.status("INBOX", "(BOGUS)")


def test_select_examine_responses(eider):
    r = raw_login(eider)
    r.cmd("APPEND INBOX (\\Seen) {%d+}\r\n" % len(SIMPLE) + SIMPLE.decode())
    r.cmd("APPEND INBOX ($Label1) {%d+}\r\n" % len(SIMPLE) + SIMPLE.decode())
    lines = r.cmd("SELECT INBOX")
    text = b"\n".join(lines)
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)" in text
    assert b"\\*)] " in text
    assert b"* 2 EXISTS" in text
    assert b"* OK [UNSEEN 2]" in text
    assert b"[UIDVALIDITY " in text and b"[UIDNEXT 3]" in text and b"[HIGHESTMODSEQ " in text
    assert b" OK [READ-WRITE]" in lines[-1]
    lines = r.cmd("EXAMINE INBOX")
    assert b"[PERMANENTFLAGS ()]" in b"\n".join(lines)
    assert b" OK [READ-ONLY]" in lines[-1]
    assert tagged(r.cmd("STORE 1 +FLAGS (\\Flagged)"))[0] == "NO"
    lines = r.cmd("SELECT Missing")
    assert b" NO [NONEXISTENT]" in lines[-1]
    assert tagged(r.cmd("FETCH 1 FLAGS"))[0] == "BAD"


def test_recent_is_claimed_once(eider):
    a = login(eider)
    ok(a.append("INBOX", None, None, make_message(1)))
    typ, data = a.select("INBOX", readonly=True)
    assert a.untagged_responses.get("RECENT") == [b"1"]
    b = login(eider, create=False)
    b.select("INBOX")
    assert b.untagged_responses.get("RECENT") == [b"1"]
    c = login(eider, create=False)
    c.select("INBOX")
    assert c.untagged_responses.get("RECENT") == [b"0"]
    typ, data = b.fetch("1", "(FLAGS)")
    assert b"\\Recent" in data[0]
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Recent" not in data[0]


def test_quota(eider):
    m = login(eider)
    ok(m.append("INBOX", None, None, SIMPLE))
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK"
    flat = repr(data)
    assert '"INBOX" ""' in flat
    assert "STORAGE 1 " in flat
    typ, data = m.getquota('""')
    assert typ == "OK" and b"STORAGE" in data[0]
    typ, _ = m.getquota("other")
    assert typ == "NO"
    typ, _ = m.setquota('""', "(STORAGE 10)")
    assert typ == "NO"


def test_utf7_and_utf8_names(eider):
    r = raw_login(eider)
    assert tagged(r.cmd("CREATE Entw&APw-rfe"))[0] == "OK"
    lines = r.cmd('LIST "" Entw*')
    assert lines[0].endswith(b'"Entw&APw-rfe"')
    assert tagged(r.cmd("SELECT Entw&APw-rfe"))[0] == "OK"
    assert tagged(r.cmd("ENABLE UTF8=ACCEPT"))[0] == "OK"
    lines = r.cmd('LIST "" Entw*')
    assert lines[0].endswith('"Entwürfe"'.encode())
    assert tagged(r.cmd('CREATE "Отправленные"'.encode()))[0] == "OK"
    r2 = raw_login(eider, create=False)
    lines = r2.cmd('LIST "" *')
    assert any(l.endswith(b'"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"') for l in lines)
