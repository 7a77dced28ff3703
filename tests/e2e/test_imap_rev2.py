"""IMAP4rev2 (RFC 9051) next to IMAP4rev1: the same server, two sessions side by
side, one after ENABLE IMAP4rev2 and one without. A rev1 session keeps \\Recent,
RECENT and SEARCH; a rev2 session gets no \\Recent, ESEARCH answers, [CLOSED]
and STATUS DELETED/SIZE. Raw sockets, since imaplib speaks rev1 only."""

import imaplib

from imaputil import PASSWORD, SIMPLE, make_message, ok, raw_login, tagged


def caps(lines):
    line = next(l for l in lines if l.startswith(b"* CAPABILITY"))
    return set(line.decode().split()[2:])


def enable_rev2(r):
    lines = r.cmd("ENABLE IMAP4rev2")
    assert b"* ENABLED IMAP4rev2" in lines, lines
    assert tagged(lines)[0] == "OK"


def test_capabilities_advertise_rev2_and_its_extensions(eider):
    r = raw_login(eider)
    have = caps(r.cmd("CAPABILITY"))
    assert b"SASL-IR" in r.greeting
    for cap in ("IMAP4rev1", "IMAP4rev2", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS",
                "ESEARCH", "LIST-EXTENDED", "LIST-STATUS", "MOVE", "LITERAL+", "BINARY",
                "SPECIAL-USE", "STATUS=SIZE", "ID", "NOTIFY"):
        assert cap in have, (cap, have)
    # The greeting names it too (a client decides before login).
    assert b"IMAP4rev2" in r.greeting


def test_rev1_and_rev2_sessions_side_by_side(eider):
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    ok(m.login("alice", PASSWORD))
    for i in range(3):
        ok(m.append("INBOX", "(\\Deleted)" if i == 2 else None, None, make_message(i)))
    m.logout()

    v2 = raw_login(eider, create=False)
    enable_rev2(v2)
    sel2 = v2.cmd("SELECT INBOX")
    assert tagged(sel2)[0] == "OK"
    # RFC 9051 6.3.2: no RECENT, no UNSEEN code; EXISTS and the OKs stay.
    assert b"* 3 EXISTS" in sel2
    assert not any(b"RECENT" in l for l in sel2), sel2
    assert not any(b"[UNSEEN" in l for l in sel2), sel2
    assert any(b"[UIDVALIDITY" in l for l in sel2) and any(b"[UIDNEXT 4]" in l for l in sel2)
    # Rev2 did not take the messages' \Recent: the rev1 session still sees it.
    v1 = raw_login(eider, create=False)
    sel1 = v1.cmd("SELECT INBOX")
    assert b"* 3 RECENT" in sel1, sel1
    f1 = v1.cmd("FETCH 1 FLAGS")
    assert b"\\Recent" in f1[0], f1
    f2 = v2.cmd("FETCH 1 FLAGS")
    assert b"\\Recent" not in f2[0], f2

    # SEARCH: rev1 gets SEARCH, rev2 ESEARCH (ALL by default), tagged, with UID.
    s1 = v1.cmd("SEARCH UNDELETED")
    assert s1[0] == b"* SEARCH 1 2", s1
    s2 = v2.cmd("SEARCH UNDELETED", tag="t1")
    assert s2[0] == b'* ESEARCH (TAG "t1") ALL 1:2', s2
    s2 = v2.cmd("UID SEARCH DELETED", tag="t2")
    assert s2[0] == b'* ESEARCH (TAG "t2") UID ALL 3', s2
    s2 = v2.cmd("SEARCH SUBJECT nothing-like-this", tag="t3")
    assert s2[0] == b'* ESEARCH (TAG "t3")', s2
    # An explicit RETURN is honoured in both.
    assert v1.cmd("SEARCH RETURN (COUNT) ALL", tag="t4")[0] == b'* ESEARCH (TAG "t4") COUNT 3'
    assert v2.cmd("SEARCH RETURN (MIN MAX) ALL", tag="t5")[0] == b'* ESEARCH (TAG "t5") MIN 1 MAX 3'

    # STATUS DELETED and SIZE (RFC 9051 6.3.11, RFC 8438), both versions.
    for r in (v1, v2):
        st = r.cmd("STATUS INBOX (MESSAGES DELETED SIZE)")
        line = next(l for l in st if l.startswith(b"* STATUS"))
        assert b"MESSAGES 3" in line and b"DELETED 1" in line, line
        size = int(line.split(b"SIZE ")[1].rstrip(b")"))
        assert size > 100, line

    # New mail while both are selected: rev1 hears RECENT, rev2 does not.
    m = imaplib.IMAP4(host, port)
    ok(m.login("alice", PASSWORD))
    ok(m.append("INBOX", None, None, SIMPLE))
    m.logout()
    n1 = v1.cmd("NOOP")
    assert b"* 4 EXISTS" in n1 and any(l.endswith(b" RECENT") for l in n1), n1
    n2 = v2.cmd("NOOP")
    assert b"* 4 EXISTS" in n2 and not any(b"RECENT" in l for l in n2), n2

    # Reselecting closes the old mailbox with [CLOSED] in rev2 (RFC 9051 6.3.2), not rev1.
    assert any(b"[CLOSED]" in l for l in v2.cmd("EXAMINE INBOX"))
    assert not any(b"[CLOSED]" in l for l in v1.cmd("EXAMINE INBOX"))
    # UID EXPUNGE, MOVE and UNSELECT are there for both.
    for r in (v1, v2):
        r.cmd("SELECT INBOX")
    mv = v2.cmd("UID MOVE 4 Trash")
    assert tagged(mv)[0] == "OK" and any(b"COPYUID" in l for l in mv), mv
    ex = v2.cmd("UID EXPUNGE 3")
    assert b"* 3 EXPUNGE" in ex and tagged(ex)[0] == "OK", ex
    assert tagged(v2.cmd("UNSELECT"))[0] == "OK"
    v1.close()
    v2.close()


def test_list_extended_returns_in_rev2(eider):
    r = raw_login(eider)
    enable_rev2(r)
    assert tagged(r.cmd("CREATE Work/Projects"))[0] == "OK"
    assert tagged(r.cmd("SUBSCRIBE Work"))[0] == "OK"
    lines = r.cmd('LIST "" "*" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS (MESSAGES SIZE DELETED))')
    assert tagged(lines)[0] == "OK", lines
    work = next(l for l in lines if l.startswith(b"* LIST") and l.endswith(b' "Work"'))
    assert b"\\Subscribed" in work and b"\\HasChildren" in work, work
    assert any(l.startswith(b'* STATUS "Work" (MESSAGES 0 SIZE 0 DELETED 0)') for l in lines), lines
    trash = next(l for l in lines if l.startswith(b"* LIST") and b"Trash" in l)
    assert b"\\Trash" in trash, trash
    sub = r.cmd('LIST (SUBSCRIBED) "" "*"')
    names = [l for l in sub if l.startswith(b"* LIST")]
    assert any(l.endswith(b' "Work"') for l in names) and not any(b"Projects" in l for l in names), sub


def test_enable_twice_and_unknown_is_harmless(eider):
    r = raw_login(eider)
    lines = r.cmd("ENABLE IMAP4rev2 X-UNKNOWN")
    assert b"* ENABLED IMAP4rev2" in lines and tagged(lines)[0] == "OK", lines
    lines = r.cmd("ENABLE IMAP4REV2")
    assert tagged(lines)[0] == "OK", lines
    # Before login ENABLE is refused.
    host, port = eider.hostport("IMAP")
    from imaputil import Raw
    anon = Raw(host, port)
    assert tagged(anon.cmd("ENABLE IMAP4rev2"))[0] == "BAD"


def test_rev2_names_are_utf8_rev1_names_modified_utf7(eider):
    v2 = raw_login(eider)
    enable_rev2(v2)
    assert tagged(v2.cmd('CREATE "Résumé"'.encode()))[0] == "OK"
    lines = v2.cmd('LIST "" "R*"')
    assert any(l.endswith('"/" Résumé'.encode()) or l.endswith('"/" "Résumé"'.encode()) for l in lines), lines
    v1 = raw_login(eider, create=False)
    lines = v1.cmd('LIST "" "R*"')
    assert any(l.endswith(b'"R&AOk-sum&AOk-"') for l in lines), lines
