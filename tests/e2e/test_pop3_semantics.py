"""WildDuck's POP3 semantics: changes apply only at QUIT (RETR marks Seen, DELE moves
to Trash and marks Seen); RSET and a dropped connection change nothing; a message
expunged by another session answers -ERR while the rest of the session works."""

import poplib

import pytest

from pop3_util import (
    PASSWORD,
    RawPop3,
    deliver,
    imap_session,
    mailbox_state,
    simple_message,
)

SEEN = "\\Seen"


@pytest.fixture
def three(eider):
    eider.create_user("sem.user")
    deliver(eider, "sem.user", [simple_message(f"m{i}") for i in (1, 2, 3)])
    return "sem.user"


def session(eider, user):
    host, port = eider.hostport("POP3")
    p = poplib.POP3(host, port, timeout=15)
    p.user(user)
    p.pass_(PASSWORD)
    return p


def inbox(eider, user):
    return mailbox_state(eider, user, "INBOX")


def test_quit_marks_retrieved_seen_and_moves_deleted_to_trash(eider, three):
    p = session(eider, three)
    p.retr(1)
    p.dele(2)
    p.top(3, 5)  # TOP does not mark Seen
    # Nothing is applied before QUIT.
    assert [s for s, f in inbox(eider, three) if SEEN in f] == []
    assert len(inbox(eider, three)) == 3
    assert p.quit().startswith(b"+OK")

    assert inbox(eider, three) == [("m1", {SEEN}), ("m3", set())]
    assert mailbox_state(eider, three, "Trash") == [("m2", {SEEN})]

    # The next session lists what is left.
    p = session(eider, three)
    assert p.stat()[0] == 2
    p.quit()


def test_rset_discards_every_pending_change(eider, three):
    p = session(eider, three)
    p.retr(1)
    p.dele(2)
    p.dele(3)
    assert p.stat()[0] == 1
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 3
    p.quit()
    assert inbox(eider, three) == [("m1", set()), ("m2", set()), ("m3", set())]
    assert mailbox_state(eider, three, "Trash") == []


def test_dropped_connection_changes_nothing(eider, three):
    c = RawPop3(eider.hostport("POP3"))
    c.login(three)
    assert c.cmd("RETR 1").startswith(b"+OK")
    c.multiline()
    assert c.cmd("DELE 2").startswith(b"+OK")
    assert c.cmd("DELE 3").startswith(b"+OK")
    c.close()  # no QUIT
    # Give the server a moment to notice the close.
    p = session(eider, three)
    assert p.stat()[0] == 3
    p.quit()
    assert inbox(eider, three) == [("m1", set()), ("m2", set()), ("m3", set())]
    assert mailbox_state(eider, three, "Trash") == []


def test_message_expunged_elsewhere_answers_err_and_quit_applies_the_rest(eider, three):
    p = session(eider, three)
    assert p.stat()[0] == 3

    # Another client removes message 2 while the POP3 session is open.
    m = imap_session(eider, three)
    m.select("INBOX")
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()

    with pytest.raises(poplib.error_proto) as err:
        p.retr(2)
    assert err.value.args[0].startswith(b"-ERR")
    with pytest.raises(poplib.error_proto):
        p.top(2, 0)
    # The listing is the session's snapshot; the other messages work as before.
    assert p.stat()[0] == 3
    assert b"Subject: m1" in b"\r\n".join(p.retr(1)[1])
    assert b"Subject: m3" in b"\r\n".join(p.retr(3)[1])
    p.dele(2)  # deleting the vanished message is harmless
    p.dele(3)
    assert p.quit().startswith(b"+OK")

    assert inbox(eider, three) == [("m1", {SEEN})]
    assert mailbox_state(eider, three, "Trash") == [("m3", {SEEN})]


def test_two_sessions_do_not_apply_each_others_changes(eider, three):
    a = session(eider, three)
    b = session(eider, three)
    a.dele(1)
    b.retr(3)
    b.quit()
    assert inbox(eider, three) == [("m1", set()), ("m2", set()), ("m3", {SEEN})]
    a.quit()
    assert inbox(eider, three) == [("m2", set()), ("m3", {SEEN})]
    assert mailbox_state(eider, three, "Trash") == [("m1", {SEEN})]
