"""The SMTP submission gateway through real sockets: Python's smtplib and swaks
submit with an application-specific password over STARTTLS; an aiosmtpd sink
stands in for the relay ([relay]); the Sent copy is read back over IMAP, a From
that is not the user's is rewritten (the original kept in X-Original-From), a
local recipient gets the message in INBOX, and wrong credentials or an ASP
without the "smtp" scope are refused with 535."""

import imaplib
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from lmtp_support import user, wait_for
from test_outbound_queue import Sink, queue_args

PASSWORD = "secret-pass"


def trusted_context(server):
    return ssl.create_default_context(cafile=str(server.data_dir / "tls" / "selfsigned.crt"))


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def start(start_eider, sink, *extra):
    server = start_eider(extra_args=queue_args(
        sink.port, "--set", "submission.enabled=true", "--set", "submission.port=0", *extra))
    assert wait_for(lambda: "Submission" in server.addresses, timeout=10), server.log_lines[-20:]
    return server


def asp(server, uid, scopes):
    status, body = server.api("POST", f"/users/{uid}/asps", {"description": "mailer", "scopes": scopes})
    assert status == 200 and body.get("password"), body
    return body["password"]


def password_id(server, uid):
    status, body = server.api("GET", f"/users/{uid}/asps")
    assert status == 200, body
    [entry] = body["results"]
    return entry["id"]


def client(server):
    host, port = server.hostport("Submission")
    c = smtplib.SMTP(host, port, timeout=30)
    c.ehlo("client.test")
    assert c.has_extn("starttls")
    c.starttls(context=trusted_context(server))
    c.ehlo("client.test")
    for ext in ("auth", "size", "pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes"):
        assert c.has_extn(ext), ext
    assert not c.has_extn("starttls")
    return c


def message(sender, to, subject, extra=""):
    return (
        f"From: Alice Sender <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@client.test>\r\n{extra}\r\nbody of {subject}\r\n"
    ).encode()


def imap_messages(server, username, password, path):
    host, port = server.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=30)
    try:
        imap.login(username, password)
        typ, _ = imap.select(f'"{path}"', readonly=True)
        assert typ == "OK"
        typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [part[1] for part in data if isinstance(part, tuple)]
    finally:
        imap.logout()


def test_asp_over_starttls_to_a_remote_recipient_with_sent_copy(start_eider, sink):
    server = start(start_eider, sink)
    uid = user(server, "alice", password=PASSWORD)
    password = asp(server, uid, ["smtp"])
    c = client(server)
    c.login("alice", password)
    refused = c.sendmail("alice@example.com", ["bob@example.org"],
                         message("alice@example.com", "bob@example.org", "remote one", "Bcc: hidden@example.org\r\n"))
    assert refused == {}
    c.quit()
    assert wait_for(lambda: sink.received, timeout=20)
    mail_from, rcpts, data = sink.received[0]
    assert (mail_from, rcpts) == ("alice@example.com", ["bob@example.org"])
    assert b"Subject: remote one" in data and b"body of remote one" in data
    assert b"X-Original-From" not in data, "the user's own From is left alone"
    assert b"hidden@example.org" not in data, "Bcc is not sent"
    [sent] = imap_messages(server, "alice", PASSWORD, "Sent Mail")
    assert b"Subject: remote one" in sent
    assert b"Bcc: hidden@example.org" in sent, "the Sent copy keeps Bcc"


def test_foreign_from_is_rewritten(start_eider, sink):
    server = start(start_eider, sink)
    uid = user(server, "carol", password=PASSWORD)
    c = client(server)
    c.login("carol@example.com", PASSWORD)
    c.sendmail("boss@elsewhere.test", ["dave@example.org"],
               message("boss@elsewhere.test", "dave@example.org", "spoofed"))
    c.quit()
    assert wait_for(lambda: sink.received, timeout=20)
    mail_from, rcpts, data = sink.received[0]
    # Envelope and header From become the user's address; the original is kept.
    assert mail_from == "carol@example.com"
    assert b'From: "Alice Sender" <carol@example.com>\r\n' in data
    assert b"X-Original-From: Alice Sender <boss@elsewhere.test>\r\n" in data
    [sent] = imap_messages(server, "carol", PASSWORD, "Sent Mail")
    assert b"X-Original-From: Alice Sender <boss@elsewhere.test>" in sent
    assert uid


def test_local_recipient_lands_in_inbox(start_eider, sink):
    server = start(start_eider, sink)
    user(server, "erin", password=PASSWORD)
    user(server, "frank", password=PASSWORD)
    c = client(server)
    c.login("erin", PASSWORD)
    c.sendmail("erin@example.com", ["frank@example.com"],
               message("erin@example.com", "frank@example.com", "for frank"))
    c.quit()
    assert wait_for(lambda: imap_messages(server, "frank", PASSWORD, "INBOX"), timeout=10)
    [inbox] = imap_messages(server, "frank", PASSWORD, "INBOX")
    assert b"Subject: for frank" in inbox
    assert len(imap_messages(server, "erin", PASSWORD, "Sent Mail")) == 1
    time.sleep(1)
    assert sink.received == [], "a local recipient is not relayed"


def test_disabled_local_recipient_is_refused_at_rcpt(start_eider, sink):
    server = start(start_eider, sink)
    user(server, "kate", password=PASSWORD)
    lou = user(server, "lou", password=PASSWORD)
    status, body = server.api("PUT", f"/users/{lou}", {"disabled": True})
    assert status == 200, body
    c = client(server)
    c.login("kate", PASSWORD)
    c.mail("kate@example.com")
    code, text = c.rcpt("lou@example.com")
    assert (code, text) == (550, b"5.2.1 Mailbox disabled")
    c.quit()


def test_wrong_password_and_asp_without_smtp_scope_get_535(start_eider, sink):
    server = start(start_eider, sink)
    uid = user(server, "gina", password=PASSWORD)
    imap_only = asp(server, uid, ["imap"])
    c = client(server)
    with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
        c.login("gina", "not-the-password")
    assert wrong.value.smtp_code == 535
    with pytest.raises(smtplib.SMTPAuthenticationError) as scoped:
        c.login("gina", imap_only)
    assert scoped.value.smtp_code == 535
    # Without a login nothing is sent.
    code, _ = c.mail("gina@example.com")
    assert code == 530
    c.quit()


def test_daily_recipient_limit_applies(start_eider, sink):
    server = start(start_eider, sink)
    uid = user(server, "hank", password=PASSWORD)
    status, body = server.api("PUT", f"/users/{uid}", {"recipients": 1})
    assert status == 200, body
    c = client(server)
    c.login("hank", PASSWORD)
    c.sendmail("hank@example.com", ["one@example.org"], message("hank@example.com", "one@example.org", "first"))
    with pytest.raises(smtplib.SMTPDataError) as limited:
        c.sendmail("hank@example.com", ["two@example.org"], message("hank@example.com", "two@example.org", "second"))
    assert limited.value.smtp_code == 550
    c.quit()


def test_swaks_submits_over_starttls(start_eider, sink):
    assert shutil.which("swaks"), "swaks is needed (scripts/test installs it)"
    server = start(start_eider, sink)
    uid = user(server, "ivy", password=PASSWORD)
    password = asp(server, uid, ["smtp"])
    host, port = server.hostport("Submission")
    run = subprocess.run(
        ["swaks", "--server", host, "--port", str(port), "--tls", "--auth", "LOGIN",
         "--auth-user", "ivy", "--auth-password", password,
         "--from", "ivy@example.com", "--to", "jack@example.org",
         "--header", "Subject: via swaks", "--body", "sent by swaks"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "250 2.0.0 Message queued as" in run.stdout
    assert wait_for(lambda: sink.received, timeout=20)
    mail_from, rcpts, data = sink.received[0]
    assert (mail_from, rcpts) == ("ivy@example.com", ["jack@example.org"])
    assert b"Subject: via swaks" in data


def test_master_password_refused_with_2fa_and_logins_logged_as_smtp(start_eider, sink):
    from test_auth_2fa import enable_totp

    server = start(start_eider, sink)
    uid = user(server, "mia", password=PASSWORD)
    c = client(server)
    c.login("mia", PASSWORD)
    c.quit()
    enable_totp(server, uid)
    password = asp(server, uid, ["smtp"])
    c = client(server)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        c.login("mia", PASSWORD)
    assert refused.value.smtp_code == 535
    c.login("mia", password)
    c.quit()
    status, log = server.api("GET", f"/users/{uid}/authlog?limit=100")
    assert status == 200, log
    # Repeated successes from one address are folded into one entry (as WildDuck).
    smtp = {(e["result"], e.get("asp")) for e in log["results"] if e.get("protocol") == "SMTP"}
    assert ("fail", None) in smtp and ("success", password_id(server, uid)) in smtp, log["results"]


def test_deleting_the_asp_ends_the_session(start_eider, sink):
    server = start(start_eider, sink)
    uid = user(server, "ned", password=PASSWORD)
    password = asp(server, uid, ["smtp"])
    c = client(server)
    c.login("ned", password)
    assert c.noop()[0] == 250
    status, body = server.api("DELETE", f"/users/{uid}/asps/{password_id(server, uid)}")
    assert status == 200, body
    # The server says 421 and closes without waiting for a command.
    assert c.getreply()[0] == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):
        c.noop()


def test_from_whitelist_is_not_rewritten(start_eider, sink):
    server = start(start_eider, sink)
    uid = user(server, "olga", password=PASSWORD)
    status, body = server.api("PUT", f"/users/{uid}", {"fromWhitelist": ["*@partner.test"]})
    assert status == 200, body
    c = client(server)
    c.login("olga", PASSWORD)
    c.sendmail("team@partner.test", ["p@example.org"], message("team@partner.test", "p@example.org", "allowed"))
    c.quit()
    assert wait_for(lambda: sink.received, timeout=20)
    mail_from, _, data = sink.received[0]
    assert mail_from == "team@partner.test"
    assert b"From: Alice Sender <team@partner.test>\r\n" in data
    assert b"X-Original-From" not in data


def test_implicit_tls_port(start_eider, sink):
    server = start_eider(extra_args=queue_args(
        sink.port, "--set", "submission.enabled=true", "--set", "submission.port=0",
        "--set", "submission.secure=true"))
    assert wait_for(lambda: "Submissions" in server.addresses, timeout=10), server.log_lines[-20:]
    user(server, "pia", password=PASSWORD)
    host, port = server.hostport("Submissions")
    c = smtplib.SMTP_SSL(host, port, context=trusted_context(server), timeout=30)
    c.ehlo("client.test")
    assert c.has_extn("auth") and not c.has_extn("starttls")
    c.login("pia", PASSWORD)
    c.sendmail("pia@example.com", ["q@example.org"], message("pia@example.com", "q@example.org", "over tls"))
    c.quit()
    assert wait_for(lambda: sink.received, timeout=20)
    assert b"Subject: over tls" in sink.received[0][2]
