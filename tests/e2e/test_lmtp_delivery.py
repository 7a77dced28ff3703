"""LMTP delivery end to end: the real binary driven by Python's smtplib.LMTP.
Protocol (RFC 2033), recipient resolution at RCPT, quota, duplicates, spam."""

import time

from lmtp_support import (
    connect,
    deliver,
    delivered,
    make_message,
    messages,
    raw_exchange,
    transaction,
    user,
)


def test_lhlo_advertises_extensions(eider):
    client = connect(eider)
    try:
        for ext in ("pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "size"):
            assert client.has_extn(ext), client.esmtp_features
        assert int(client.esmtp_features["size"]) == 64 * 1024 * 1024
        code, _ = client.helo("x")  # HELO is not LMTP
        assert code == 500
        assert client.verify("anyone@example.com")[0] == 252
        assert client.noop()[0] == 250
    finally:
        client.quit()


def test_one_reply_per_recipient_and_bytes_kept(eider):
    alice = user(eider, "alice")
    bob = user(eider, "bob")
    body = (
        "Dots at line starts survive:\r\n"
        ".\r\n"
        "..two\r\n"
        ".leading\r\n"
        "Ümlauts and 8-bit: žluťoučký kůň\r\n"
        + "x" * 2000
        + "\r\n"
    )
    msg = make_message(subject="Per recipient", body=body)
    rcpt, data = deliver(
        eider,
        ["alice@example.com", "nobody@example.com", "bob@example.com"],
        msg,
        mail_options=["BODY=8BITMIME", f"SIZE={len(msg)}"],
    )
    assert [c for c, _ in rcpt] == [250, 550, 250]
    assert rcpt[1][1].startswith(b"5.1.1")
    assert [c for c, _ in data] == [250, 250]
    for uid, name in ((alice, "alice"), (bob, "bob")):
        stored = messages(eider, uid, username=name)
        assert stored == [delivered(f"{name}@example.com", msg)]


def test_pipelined_batch(eider):
    piper = user(eider, "piper")
    msg = make_message(subject="Pipelined")
    stuffed = msg.replace(b"\r\n.", b"\r\n..")
    payload = (
        b"LHLO c\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<piper@example.com>\r\n"
        b"RCPT TO:<ghost@example.com>\r\nDATA\r\n"
    )
    lines = raw_exchange(eider, payload + stuffed + b".\r\nNOOP\r\nQUIT\r\n", 8)
    finals = [line[:9] for line in lines if line[3] == " "]
    # The LHLO reply's last line is whichever extension comes last (STARTTLS
    # when TLS is available).
    assert finals[0].startswith("250 ")
    assert finals[1:] == [
        "250 2.1.0",
        "250 2.1.5",
        "550 5.1.1",
        "354 2.0.0",
        "250 2.0.0",
        "250 2.0.0",
        "221 2.0.0",
    ]
    assert messages(eider, piper, username="piper") == [delivered("piper@example.com", msg)]


def test_bad_commands_answer_with_enhanced_codes(eider):
    client = connect(eider)
    try:
        assert client.docmd("FROB")[0] == 500
        assert client.docmd("RCPT", "TO:<a@example.com>")[0] == 503
        assert client.docmd("DATA")[0] == 503
        assert client.docmd("MAIL", "FROM:<a@example.com")[0] == 501
        code, text = client.docmd("MAIL", "FROM:<a@example.com> RET=FULL")
        assert code == 555 and text.startswith(b"5.5.4")
        assert client.docmd("MAIL", "FROM:<a@example.com>")[0] == 250
        assert client.docmd("MAIL", "FROM:<a@example.com>")[0] == 503
        assert client.docmd("RSET")[0] == 250
        code, text = client.docmd("NOOP " + "a" * 10000)
        assert code == 500 and text.startswith(b"5.5.2")
        assert client.noop()[0] == 250
    finally:
        client.quit()


def test_recipients_resolve_like_wildduck(eider):
    uid = user(eider, "johndoe", address="John.Doe@example.com")
    unicode_uid = user(eider, "andris", address="андрис@уайлддак.орг")
    # Catch-all and a domain alias.
    status, body = eider.api("POST", f"/users/{uid}/addresses", {"address": "*@catch.example", "allowWildcard": True})
    assert status == 200 and body.get("success"), body
    status, body = eider.api(
        "POST", "/domainaliases", {"alias": "alias.example", "domain": "example.com"}
    )
    assert status == 200 and body.get("success"), body

    targets = [
        "john.doe@example.com",
        "JOHNDOE@EXAMPLE.COM",
        "j.o.h.n.d.o.e+news@example.com",
        "anything@catch.example",
        "john.doe@alias.example",
    ]
    for i, rcpt in enumerate(targets):
        msg = make_message(subject=f"resolve {i}")
        rcpts, data = deliver(eider, [rcpt], msg)
        assert rcpts[0][0] == 250, (rcpt, rcpts)
        assert data[0][0] == 250, (rcpt, data)
    assert len(messages(eider, uid, username="johndoe")) == len(targets)

    idn = "уайлддак.орг".encode("idna").decode()
    for i, rcpt in enumerate(["андрис@уайлддак.орг", f"АНДРИС@{idn}"]):
        msg = make_message(subject=f"unicode {i}")
        rcpts, data = deliver(eider, [rcpt], msg, mail_options=["SMTPUTF8"])
        assert rcpts[0][0] == 250, (rcpt, rcpts)
        assert data[0][0] == 250
    assert len(messages(eider, unicode_uid, username="andris")) == 2

    rcpts, _ = deliver(eider, ["john.doe@other.example"], make_message())
    assert rcpts[0][0] == 550 and rcpts[0][1].startswith(b"5.1.1")


def test_disabled_and_suspended_accounts_refused_at_rcpt(eider):
    disabled = user(eider, "disabled")
    suspended = user(eider, "suspended")
    assert eider.api("PUT", f"/users/{disabled}", {"disabled": True})[0] == 200
    assert eider.api("PUT", f"/users/{suspended}", {"suspended": True})[0] == 200
    client = connect(eider)
    try:
        assert client.mail("s@example.org")[0] == 250
        code, text = client.rcpt("disabled@example.com")
        assert (code, text[:5]) == (550, b"5.2.1")
        code, text = client.rcpt("suspended@example.com")
        assert (code, text[:5]) == (450, b"4.2.1")
        code, text = client.rcpt("missing@example.com")
        assert (code, text[:5]) == (550, b"5.1.1")
    finally:
        client.quit()


def test_over_quota_recipient_gets_452_and_others_their_copy(eider):
    small = user(eider, "small", quota=3000)
    roomy = user(eider, "roomy")
    big = make_message(subject="big", body="y" * 5000 + "\r\n")
    rcpts, data = deliver(eider, ["small@example.com", "roomy@example.com"], big)
    assert [c for c, _ in rcpts] == [250, 250]
    assert [c for c, _ in data] == [452, 250]
    assert data[0][1].startswith(b"4.2.2")
    assert messages(eider, small, username="small") == []
    assert messages(eider, roomy, username="roomy") == [delivered("roomy@example.com", big)]

    # Fill the small mailbox to the byte, then it is refused already at RCPT.
    pad = 3000 - len(delivered("small@example.com", make_message(subject="fill", body=""))) - 2
    fill = make_message(subject="fill", body="z" * pad + "\r\n")
    assert len(delivered("small@example.com", fill)) == 3000
    assert deliver(eider, ["small@example.com"], fill)[1][0][0] == 250
    rcpts, _ = deliver(eider, ["small@example.com"], make_message())
    assert rcpts[0][0] == 452 and rcpts[0][1].startswith(b"4.2.2")


def test_duplicate_message_id_is_stored_once(eider):
    uid = user(eider, "dupes")
    msg = make_message(subject="twice", message_id="<same-id@example.org>")
    for _ in range(3):
        rcpts, data = deliver(eider, ["dupes@example.com"], msg)
        assert data[0][0] == 250
    # The same account named twice in one transaction gets one copy as well.
    other = make_message(subject="aliases", message_id="<other-id@example.org>")
    rcpts, data = deliver(eider, ["dupes@example.com", "d.u.p.e.s+x@example.com"], other)
    assert [c for c, _ in data] == [250, 250]
    assert messages(eider, uid, username="dupes") == [delivered("dupes@example.com", msg),
                                                      delivered("dupes@example.com", other)]


def test_spam_header_sends_to_junk(eider):
    uid = user(eider, "spammed")
    trusting = user(eider, "trusting", spamLevel=100)
    spam = make_message(subject="buy now", headers=["X-Spam-Status: Yes, score=9.1"])
    ham = make_message(subject="hello", headers=["X-Rspamd-Spam: no"])
    for msg in (spam, ham):
        _, data = deliver(eider, ["spammed@example.com", "trusting@example.com"], msg)
        assert [c for c, _ in data] == [250, 250]
    assert messages(eider, uid, "Junk", username="spammed") == [delivered("spammed@example.com", spam)]
    assert messages(eider, uid, "INBOX", username="spammed") == [delivered("spammed@example.com", ham)]
    assert messages(eider, trusting, "INBOX", username="trusting") == [
        delivered("trusting@example.com", spam), delivered("trusting@example.com", ham)]


def test_size_limit(start_eider):
    server = start_eider(extra_args=["--set", "lmtp.maxMB=1"])
    user(server, "limited")
    client = connect(server)
    try:
        assert int(client.esmtp_features["size"]) == 1024 * 1024
        code, text = client.mail("s@example.org", ["SIZE=2000000"])
        assert (code, text[:5]) == (552, b"5.3.4")
        huge = make_message(body=("q" * 998 + "\r\n") * 1100)
        _, data = transaction(client, "s@example.org", ["limited@example.com"] * 2, huge)
        assert [(c, t[:5]) for c, t in data] == [(552, b"5.3.4"), (552, b"5.3.4")]
        # The session goes on.
        _, data = transaction(client, "s@example.org", ["limited@example.com"], make_message())
        assert data[0][0] == 250
    finally:
        client.quit()


def test_forwarded_address_with_sending_off_is_deferred(start_eider):
    eider = start_eider(extra_args=["--set", "outbound.enabled=false"])
    status, body = eider.api(
        "POST",
        "/addresses/forwarded",
        {"address": "fwd@example.com", "targets": ["elsewhere@example.net"]},
    )
    assert status == 200 and body.get("success"), body
    rcpts, _ = deliver(eider, ["fwd@example.com"], make_message())
    assert rcpts[0][0] == 451 and rcpts[0][1].startswith(b"4.3.0")


def test_duplicate_window_expires(start_eider):
    server = start_eider(extra_args=["--set", "lmtp.duplicateWindow=1"])
    uid = user(server, "window")
    msg = make_message(subject="again", message_id="<again@example.org>")
    assert deliver(server, ["window@example.com"], msg)[1][0][0] == 250
    assert deliver(server, ["window@example.com"], msg)[1][0][0] == 250
    assert len(messages(server, uid, username="window")) == 1
    time.sleep(2.2)
    # The earlier copy is outside the window: a new delivery; then a fresh duplicate again.
    assert deliver(server, ["window@example.com"], msg)[1][0][0] == 250
    assert deliver(server, ["window@example.com"], msg)[1][0][0] == 250
    assert messages(server, uid, username="window") == [delivered("window@example.com", msg)] * 2
