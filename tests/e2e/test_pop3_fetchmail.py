"""fetchmail (Debian's) downloads a 500-message mailbox over POP3 with `keep` and UIDL
tracking; a second run finds nothing new; the messages stay in INBOX."""

import os
import re
import shutil
import subprocess

import pytest

from pop3_util import PASSWORD, RawImap, imap_session

COUNT = 500

pytestmark = pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail is not installed")


def message(i):
    return (
        f"From: sender{i}@example.com\r\nTo: fetch.user@example.com\r\n"
        f"Subject: fetch {i}\r\nMessage-ID: <fetch-{i}@e2e.example>\r\nX-Seq: {i}\r\n\r\n"
        f"Message number {i}.\r\n.dot line {i}\r\n"
    ).encode()


def run_fetchmail(tmp_path, port, extra_rc=""):
    home = tmp_path / "fmhome"
    home.mkdir(exist_ok=True)
    out = tmp_path / "delivered.mbox"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        f"poll 127.0.0.1 service {port} protocol pop3 uidl timeout 60\n"
        f'  user "fetch.user" there with password "{PASSWORD}" is "fetcher" here\n'
        f"  keep\n"
        f"  {extra_rc}\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n"
    )
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home), LC_ALL="C")
    res = subprocess.run(
        # As root fetchmail keeps its lock in /var/run unless told otherwise, and the
        # tests run in parallel: each run gets its own.
        ["fetchmail", "-f", str(rc), "--idfile", str(home / "fetchids"),
         "--pidfile", str(home / "fetchmail.pid"), "-v", "--nodetach"],
        env=env,
        capture_output=True,
        timeout=600,
    )
    delivered = out.read_bytes() if out.exists() else b""
    return res, delivered


@pytest.mark.parametrize("tls", ["plain", "stls"])
def test_fetchmail_keeps_and_tracks_uidls(start_eider, tmp_path, tls):
    eider = start_eider(extra_args=["--set", "pop3.maxMessages=1000"])
    eider.create_user("fetch.user")
    imap = RawImap(eider.hostport("IMAP"), "fetch.user")
    for i in range(1, COUNT + 1):
        imap.append(message(i))
    imap.close()

    _, port = eider.hostport("POP3")
    # "plain": TLS switched off in fetchmail; "stls": opportunistic STLS, certificate not pinned.
    extra = "sslproto ''" if tls == "plain" else "sslproto 'tls1.2+' no sslcertck"
    res, delivered = run_fetchmail(tmp_path, port, extra)
    log = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    assert res.returncode == 0, log
    seqs = sorted(int(m) for m in re.findall(rb"^X-Seq: (\d+)\r?$", delivered, re.M))
    assert seqs == list(range(1, COUNT + 1)), log[-3000:]
    # Dot-stuffed lines arrive unstuffed.
    assert delivered.count(b"\n.dot line ") == COUNT
    if tls == "stls":
        assert "POP3> STLS" in log, log[:3000]
    else:
        assert "POP3> STLS" not in log

    # Second run: every UIDL is known, nothing is fetched (fetchmail exits 1: no mail).
    res2, delivered2 = run_fetchmail(tmp_path, port, extra)
    log2 = res2.stdout.decode(errors="replace") + res2.stderr.decode(errors="replace")
    assert res2.returncode == 1, log2
    assert delivered2 == delivered

    # `keep`: everything is still in INBOX. With keep and client-side UIDL tracking
    # fetchmail peeks with "TOP n 99999999" (the whole message), and TOP does not mark
    # messages Seen, so they all stay unseen.
    assert "TOP 1 99999999" in log
    m = imap_session(eider, "fetch.user")
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
    m.logout()
    assert typ == "OK"
    assert b"MESSAGES %d UNSEEN %d" % (COUNT, COUNT) in data[0], data


def test_fetchmail_fetchall_retr_marks_seen(start_eider, tmp_path):
    # With `fetchall` fetchmail downloads with RETR; RETR marks Seen at QUIT, and `keep`
    # leaves the messages in INBOX.
    eider = start_eider()
    eider.create_user("fetch.user")
    imap = RawImap(eider.hostport("IMAP"), "fetch.user")
    for i in range(1, 21):
        imap.append(message(i))
    imap.close()
    res, delivered = run_fetchmail(tmp_path, eider.hostport("POP3")[1], "sslproto ''\n  fetchall")
    log = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    assert res.returncode == 0, log
    assert "POP3> RETR 1" in log
    assert len(re.findall(rb"^X-Seq: ", delivered, re.M)) == 20
    m = imap_session(eider, "fetch.user")
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN)")
    m.logout()
    assert b"MESSAGES 20 UNSEEN 0" in data[0], data
