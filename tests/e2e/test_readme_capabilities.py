"""The README's "Announced capabilities" lines are what the listeners announce:
IMAP before and after login, POP3 CAPA, LMTP LHLO and submission EHLO, compared
as sets with a running server (defaults + TLS + submission on)."""

import imaplib
import poplib
import re
import smtplib
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_capabilities():
    text = README.read_text()
    section = text.split("### Announced capabilities", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    lines = {}
    for line in block.strip().splitlines():
        name, caps = line.split(":", 1)
        lines[name.strip()] = set(caps.split())
    return lines


def smtp_features(client):
    caps = set()
    for name, value in client.esmtp_features.items():
        value = value.strip()
        if not value:
            caps.add(name.upper())
        elif name == "auth":
            caps.add("AUTH=" + ",".join(value.split()))
        else:
            caps.add(f"{name.upper()}={value}")
    return caps


@pytest.fixture
def server(start_eider):
    return start_eider(extra_args=["--set", "submission.enabled=true", "--set", "submission.port=0"])


def test_readme_names_what_every_listener_announces(server):
    want = readme_capabilities()
    assert set(want) == {"IMAP before login", "IMAP after login", "POP3 CAPA", "LMTP LHLO",
                         "Submission EHLO"}, want.keys()
    server.create_user("capa", "secret-pass")

    imap = imaplib.IMAP4(*server.hostport("IMAP"))
    # imaplib upper-cases what it read from the greeting; compare case-insensitively.
    assert {c.upper() for c in imap.capabilities} == {c.upper() for c in want["IMAP before login"]}
    imap.login("capa", "secret-pass")
    typ, data = imap.capability()
    assert typ == "OK"
    assert set(data[-1].decode().split()) == want["IMAP after login"]
    imap.logout()

    pop = poplib.POP3(*server.hostport("POP3"))
    got = set()
    for name, args in pop.capa().items():
        got.add(name + ("=" + ",".join(args) if args else ""))
    pop.quit()
    assert got == want["POP3 CAPA"]

    lmtp = smtplib.LMTP(*server.hostport("LMTP"))
    lmtp.ehlo()
    assert smtp_features(lmtp) == want["LMTP LHLO"]
    lmtp.quit()

    sub = smtplib.SMTP(*server.hostport("Submission"))
    sub.ehlo()
    assert smtp_features(sub) == want["Submission EHLO"]
    sub.quit()
