"""Encryption at rest (issue 21, WildDuck's pubKey / encryptMessages): keys made by
GnuPG in a private GNUPGHOME, mail delivered over LMTP, IMAP APPEND and the API,
and the stored bytes (fetched over IMAP and POP3) decrypted by `gpg --decrypt`."""

import base64
import imaplib
import os
import poplib
import re
import shutil
import subprocess
import uuid

import pytest

from lmtp_support import deliver, make_message

GPG = shutil.which("gpg")
if GPG is None:
    if os.environ.get("CI"):
        raise RuntimeError("gpg is missing (Debian's gnupg); scripts/test installs it")
    pytest.skip("gpg (Debian's gnupg) is not installed", allow_module_level=True)

ARMOR_RE = re.compile(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----\r?\n", re.S)


class Gpg:
    """GnuPG in its own home under the test's tmp dir."""

    def __init__(self, home):
        self.home = str(home)
        os.makedirs(self.home, mode=0o700, exist_ok=True)

    def run(self, *args, data=None, check=True):
        proc = subprocess.run(
            [GPG, "--homedir", self.home, "--batch", "--yes", "--pinentry-mode", "loopback",
             "--passphrase", "", *args],
            input=data, capture_output=True, timeout=120,
        )
        if check:
            assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc

    def new_key(self, uid, algo="future-default", usage="default", encryption_subkey=None):
        self.run("--quick-gen-key", uid, algo, usage, "never")
        out = self.run("--with-colons", "--fingerprint", uid).stdout.decode()
        fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        if encryption_subkey:
            # GnuPG 2.2 makes an explicit rsa2048 primary sign/certify only.
            self.run("--quick-add-key", fpr, encryption_subkey, "encr", "never")
        armored = self.run("--armor", "--export", fpr).stdout.decode()
        return fpr, armored

    def decrypt(self, data):
        return self.run("--decrypt", data=data).stdout

    def encrypt(self, fpr, data):
        return self.run("--armor", "--trust-model", "always", "--encrypt", "-r", fpr, data=data).stdout


@pytest.fixture
def gpg(tmp_path):
    return Gpg(tmp_path / "gnupg")


def imap_fetch_all(eider, username, password="secret-pass", path="INBOX"):
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=60)
    try:
        imap.login(username, password)
        typ, _ = imap.select(f'"{path}"', readonly=True)
        assert typ == "OK"
        typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [part[1] for part in data if isinstance(part, tuple)]
    finally:
        imap.logout()


def imap_append(eider, username, raw, flags="", password="secret-pass", path="INBOX"):
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=60)
    try:
        imap.login(username, password)
        typ, data = imap.append(path, flags or None, None, raw)
        assert typ == "OK", data
    finally:
        imap.logout()


def imap_search(eider, username, *criteria, password="secret-pass"):
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port, timeout=60)
    try:
        imap.login(username, password)
        imap.select("INBOX", readonly=True)
        typ, data = imap.uid("SEARCH", *criteria)
        assert typ == "OK", data
        return data[0].split()
    finally:
        imap.logout()


def pop3_retr_all(eider, username, password="secret-pass"):
    host, port = eider.hostport("POP3")
    pop = poplib.POP3(host, port, timeout=60)
    try:
        pop.user(username)
        pop.pass_(password)
        count, _ = pop.stat()
        out = []
        for i in range(1, count + 1):
            _, lines, _ = pop.retr(i)
            out.append(b"\r\n".join(lines) + b"\r\n")
        return out
    finally:
        pop.quit()


def mailbox_ids(eider, uid):
    status, body = eider.api("GET", f"/users/{uid}/mailboxes")
    assert status == 200, body
    return {m["path"]: m["id"] for m in body["results"]}


def api_upload(eider, uid, mailbox, raw, **fields):
    status, body = eider.api("POST", f"/users/{uid}/mailboxes/{mailbox}/messages",
                             {"raw": base64.b64encode(raw).decode(), **fields})
    assert status == 200, body
    return body["message"]["id"]


def split_encrypted(stored):
    """The outer header section and the armored OpenPGP message of a stored message."""
    head, _, _ = stored.partition(b"\r\n\r\n")
    armored = ARMOR_RE.search(stored)
    assert armored, stored[:2000]
    return head, armored.group(0)


def assert_pgp_mime(stored):
    head, armored = split_encrypted(stored)
    assert re.search(rb"(?m)^Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";", head), head
    assert b"\r\nContent-Type: application/pgp-encrypted\r\nContent-Transfer-Encoding: 7bit\r\n\r\nVersion: 1\r\n" in stored
    assert b"Content-Type: application/octet-stream; name=encrypted.asc\r\n" in stored
    # The original's own Content-* fields are inside the ciphertext only.
    assert b"charset=utf-8" not in head and b"8bit" not in head
    return head, armored


def secret_body():
    return f"The launch code is {uuid.uuid4().hex}.\r\n" + "Zürich " * 200 + "\r\n"


def test_key_is_validated_stored_and_shown(eider, gpg):
    fpr, armored = gpg.new_key("Key Owner <Owner@Example.com>")
    uid = eider.create_user("owner", address="owner@example.com", pubKey=armored,
                            encryptMessages=True)
    status, user = eider.api("GET", f"/users/{uid}")
    assert status == 200, user
    assert user["pubKey"] == armored.strip()
    assert user["keyInfo"] == {"name": "Key Owner", "address": "owner@example.com",
                               "fingerprint": fpr.lower()}
    assert user["encryptMessages"] is True and user["encryptForwarded"] is False
    listed = eider.api("GET", "/users?query=owner")[1]["results"][0]
    assert listed["encryptMessages"] is True

    # Not a key at all: WildDuck's schema error; nothing changes.
    status, body = eider.api("PUT", f"/users/{uid}", {"pubKey": "hello", "encryptForwarded": True})
    assert status == 400 and body["code"] == "InputValidationError", body
    assert "fails to match the PGP key format pattern" in body["error"], body
    # Armor around garbage, and a key that can only sign: WildDuck's getKeyInfo error.
    garbage = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----"
    _, sign_only = gpg.new_key("Signer <signer@example.com>", "ed25519", "sign")
    for bad in (garbage, sign_only):
        status, body = eider.api("PUT", f"/users/{uid}", {"pubKey": bad})
        assert status == 400 and body["code"] == "InputValidationError", body
        assert body["error"].startswith("PGP key validation failed. "), body
    status, body = eider.api("POST", "/users", {"username": "badkey", "password": "secret-pass",
                                                "pubKey": sign_only})
    assert status == 400 and body["error"].startswith("PGP key validation failed. "), body
    assert eider.api("GET", f"/users/{uid}")[1]["keyInfo"]["fingerprint"] == fpr.lower()
    assert eider.api("GET", f"/users/{uid}")[1]["encryptForwarded"] is False

    # An RSA key (GnuPG 2.2's default) is accepted too; an empty string clears the key.
    rsa_fpr, rsa = gpg.new_key("Rsa <rsa@example.com>", "rsa2048", "default",
                               encryption_subkey="rsa2048")
    assert eider.api("PUT", f"/users/{uid}", {"pubKey": rsa})[0] == 200
    assert eider.api("GET", f"/users/{uid}")[1]["keyInfo"]["fingerprint"] == rsa_fpr.lower()
    assert eider.api("PUT", f"/users/{uid}", {"pubKey": ""})[0] == 200
    user = eider.api("GET", f"/users/{uid}")[1]
    assert user["pubKey"] == "" and user["keyInfo"] is False


def test_every_way_in_is_encrypted_and_decrypts_to_the_original(eider, gpg):
    fpr, armored = gpg.new_key("Carol <carol@example.com>")
    uid = eider.create_user("carol", address="carol@example.com", pubKey=armored,
                            encryptMessages=True)
    boxes = mailbox_ids(eider, uid)

    over_lmtp = make_message(subject="Over LMTP", body=secret_body())
    rcpt, data = deliver(eider, ["carol@example.com"], over_lmtp)
    assert [c for c, _ in data] == [250], data
    appended = make_message(subject="Over APPEND", body=secret_body())
    imap_append(eider, "carol", appended)
    uploaded = make_message(subject="Over the API", body=secret_body())
    api_upload(eider, uid, boxes["INBOX"], uploaded)

    stored = imap_fetch_all(eider, "carol")
    assert len(stored) == 3
    originals = [over_lmtp, appended, uploaded]
    for raw, original in zip(stored, originals):
        head, ciphertext = assert_pgp_mime(raw)
        assert gpg.decrypt(ciphertext) == original
        subject = re.search(rb"(?m)^Subject: .*$", original).group(0)
        assert subject in head, head
        assert b"Launch" not in raw and b"launch code" not in raw
    # LMTP's Delivered-To stays outside the ciphertext, as WildDuck keeps it.
    assert stored[0].startswith(b"Delivered-To: carol@example.com\r\nFrom: Sender <sender@example.org>\r\n")
    # POP3 serves the same stored bytes.
    assert pop3_retr_all(eider, "carol") == stored

    # The API shows the outer headers and the encrypted parts, not the content.
    listing = eider.api("GET", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages?order=asc")[1]
    assert [m["subject"] for m in listing["results"]] == ["Over LMTP", "Over APPEND", "Over the API"]
    first = listing["results"][0]["id"]
    status, msg = eider.api("GET", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{first}")
    assert status == 200, msg
    assert msg["encrypted"] is True and msg["contentType"]["value"] == "multipart/encrypted"
    assert msg["text"] == "" and msg["html"] == []
    assert [a["contentType"] for a in msg["attachments"]] == ["application/pgp-encrypted",
                                                              "application/octet-stream"]
    assert msg["attachments"][1]["filename"] == "encrypted.asc"
    status, eml = eider.api("GET", f"/users/{uid}/mailboxes/{boxes['INBOX']}/messages/{first}/message.eml", raw=True)
    assert status == 200 and eml == stored[0]
    # Search covers the outer header only.
    assert len(imap_search(eider, "carol", "SUBJECT", '"Over APPEND"')) == 1
    assert imap_search(eider, "carol", "BODY", "launch") == []

    # A draft stays readable (it is edited); a composed message the API stores
    # in Sent is encrypted.
    status, body = eider.api("POST", f"/users/{uid}/submit", {
        "from": {"address": "carol@example.com"}, "to": [{"address": "dave@example.net"}],
        "subject": "Composed", "text": "composed secret text", "uploadOnly": True})
    assert status == 200, body
    sent = imap_fetch_all(eider, "carol", path="Sent Mail")
    assert len(sent) == 1
    _, ciphertext = assert_pgp_mime(sent[0])
    assert b"composed secret text" in gpg.decrypt(ciphertext)
    status, body = eider.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "dave@example.net"}], "subject": "Draft", "text": "draft text",
        "isDraft": True})
    assert status == 200, body
    drafts = imap_fetch_all(eider, "carol", path="Drafts")
    assert len(drafts) == 1 and b"draft text" in drafts[0]
    assert b"multipart/encrypted" not in drafts[0]


def test_already_encrypted_mail_is_stored_as_it_came(eider, gpg):
    fpr, armored = gpg.new_key("Erin <erin@example.com>")
    uid = eider.create_user("erin", address="erin@example.com", pubKey=armored,
                            encryptMessages=True)
    boxes = mailbox_ids(eider, uid)
    ciphertext = gpg.encrypt(fpr, b"Content-Type: text/plain\r\n\r\nsent encrypted\r\n").replace(b"\n", b"\r\n")
    pgp_mime = (
        b"From: sender@example.org\r\nTo: erin@example.com\r\nSubject: PGP/MIME from the sender\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";"
        b" boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        b"\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + ciphertext + b"\r\n--b1--\r\n"
    )
    inline = (b"From: sender@example.org\r\nTo: erin@example.com\r\nSubject: Inline PGP\r\n\r\n"
              + ciphertext)
    smime = (b"From: sender@example.org\r\nTo: erin@example.com\r\nSubject: S/MIME\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggFA\r\n")
    deliver(eider, ["erin@example.com"], pgp_mime)
    imap_append(eider, "erin", inline)
    api_upload(eider, uid, boxes["INBOX"], smime)
    assert imap_fetch_all(eider, "erin") == [
        b"Delivered-To: erin@example.com\r\n" + pgp_mime, inline, smime]


def test_turning_encryption_off_stores_the_next_message_in_clear(eider, gpg):
    _, armored = gpg.new_key("Frank <frank@example.com>")
    uid = eider.create_user("frank", address="frank@example.com", pubKey=armored,
                            encryptMessages=True)
    first = make_message(subject="While on", body=secret_body())
    deliver(eider, ["frank@example.com"], first)
    status, body = eider.api("PUT", f"/users/{uid}", {"encryptMessages": False})
    assert status == 200, body
    second = make_message(subject="While off", body="plain to read\r\n")
    deliver(eider, ["frank@example.com"], second)
    stored = imap_fetch_all(eider, "frank")
    assert_pgp_mime(stored[0])
    assert stored[1] == b"Delivered-To: frank@example.com\r\n" + second
    # The key stays; turning encryption back on applies to the next message again.
    assert eider.api("PUT", f"/users/{uid}", {"encryptMessages": True})[0] == 200
    deliver(eider, ["frank@example.com"], make_message(subject="On again"))
    assert_pgp_mime(imap_fetch_all(eider, "frank")[2])
