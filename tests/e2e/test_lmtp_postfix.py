"""Postfix from Debian as the MTA in front: SMTP in on a loopback port, an
`lmtp:` transport to Eider. The message lands in each recipient's INBOX
byte-identical apart from the Received header Postfix adds.

Needs the `postfix` package and root (Postfix drops privileges to its own user);
skipped otherwise."""

import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from lmtp_support import make_message, messages, user, wait_for

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

pytestmark = pytest.mark.skipif(
    not os.path.exists(POSTFIX) or os.geteuid() != 0,
    reason="needs Debian's postfix package and root",
)

MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
proxywrite unix - - n -  1 proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
lmtp      unix  - - n -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postfix(eider):
    # Postfix's own user must reach the queue: a world-traversable directory.
    base = Path(tempfile.mkdtemp(prefix="eider-postfix-"))
    base.chmod(0o755)
    etc, queue, data = base / "etc", base / "queue", base / "data"
    for d in (etc, queue, data):
        d.mkdir()
    shutil.chown(data, "postfix")
    lmtp_host, lmtp_port = eider.hostport("LMTP")
    smtp_port = free_port()
    (etc / "main.cf").write_text(
        f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.postfix.test
mydestination =
relay_domains = example.com
transport_maps = inline:{{ example.com=lmtp:inet:{lmtp_host}:{lmtp_port} }}
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = yes
maillog_file = /dev/stdout
"""
    )
    (etc / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{smtp_port}"))
    log = open(base / "postfix.log", "wb")
    proc = subprocess.Popen([POSTFIX, "-c", str(etc), "start-fg"], stdout=log, stderr=subprocess.STDOUT)

    def listening():
        try:
            with socket.create_connection(("127.0.0.1", smtp_port), timeout=1):
                return True
        except OSError:
            return False

    if not wait_for(listening, timeout=20):
        proc.terminate()
        pytest.fail("postfix did not start:\n" + (base / "postfix.log").read_text())
    yield smtp_port, base / "postfix.log"
    subprocess.run([POSTFIX, "-c", str(etc), "stop"], capture_output=True, timeout=30)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(base, ignore_errors=True)


def test_postfix_delivers_through_lmtp_byte_identical(eider, postfix):
    smtp_port, log = postfix
    first = user(eider, "pfone")
    second = user(eider, "pftwo")
    msg = make_message(
        subject="Through Postfix",
        # Lines stay under 998 octets: Postfix folds longer ones (smtp_line_length_limit).
        body=".leading dot\r\n..two dots\r\nÜnïcödé body\r\n" + "long " * 150 + "\r\n",
    )
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        refused = smtp.sendmail(
            "sender@example.org",
            ["pfone@example.com", "P.F.Two+tag@example.com", "nobody@example.com"],
            msg,
            mail_options=["BODY=8BITMIME"],
        )
        assert refused == {}

    def delivered():
        got = [messages(eider, u, username=n) for u, n in ((first, "pfone"), (second, "pftwo"))]
        return got if all(got) else None

    got = wait_for(delivered, timeout=60, interval=0.5)
    assert got, "not delivered; postfix log:\n" + log.read_text(errors="replace")
    for stored, rcpt in zip(got, ("pfone@example.com", "P.F.Two+tag@example.com")):
        assert len(stored) == 1
        raw = stored[0]
        assert raw.endswith(msg), raw[:600]
        # Eider's Delivered-To line for the recipient, then Postfix's Received
        # header (folded over several lines), then the bytes as sent.
        delivered_to = b"Delivered-To: " + rcpt.encode() + b"\r\n"
        assert raw.startswith(delivered_to), raw[:600]
        added = raw[len(delivered_to): -len(msg)]
        assert added.startswith(b"Received: from "), added
        assert all(line.startswith((b" ", b"\t")) for line in added.split(b"\r\n")[1:-1]), added
    # The unknown recipient was refused by Eider at RCPT; Postfix logged the 550.
    def refusal_logged():
        text = log.read_text(errors="replace")
        return "nobody@example.com" in text and "5.1.1" in text

    assert wait_for(refusal_logged, timeout=20), log.read_text(errors="replace")
