"""A client generated from openapi/openapi.json by a standard generator
(openapi-python-client) drives the real server: create user, upload, list,
read the parsed message, download an attachment; and one lifecycle flow: delete a
message, list the archive, restore it, read it again by IMAP."""

import base64
import imaplib
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "openapi.json"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    tool = shutil.which("openapi-python-client")
    if tool is None:
        pytest.fail("openapi-python-client is not installed (tests/e2e/requirements.txt)")
    out = tmp_path_factory.mktemp("client")
    proc = subprocess.run([tool, "generate", "--path", str(DOCUMENT), "--output-path", str(out / "eider_client"),
                           "--meta", "none"], capture_output=True, text=True, timeout=300)
    assert (out / "eider_client" / "client.py").exists(), proc.stdout + proc.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("eider_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "eider_client" or m.startswith("eider_client.")]:
            del sys.modules[name]


def test_generated_client_round_trip(eider, generated):
    from eider_client.api.mailboxes import get_mailboxes
    from eider_client.api.messages import get_message, get_message_attachment, get_messages, upload_message
    from eider_client.api.users import create_user, get_user
    from eider_client.models import CreateUserRequest, UploadMessageRequest

    client = generated.Client(base_url=eider.api_url, raise_on_unexpected_status=True)
    created = create_user.sync(client=client, body=CreateUserRequest(
        username="gen", password="gen-password", address="gen@example.com", name="Generated"))
    assert created.success and len(created.id) == 24
    user = get_user.sync(created.id, client=client)
    assert user.username == "gen" and user.limits.quota.used == 0

    inbox = [m for m in get_mailboxes.sync(created.id, client=client).results if m.path == "INBOX"][0]
    payload = b"attachment bytes \x00\x01\x02" * 100
    raw = (b"From: Sender <sender@example.com>\r\nTo: gen@example.com\r\nSubject: Generated client\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
           b"--zz\r\nContent-Type: text/plain\r\n\r\nHello from the generated client\r\n"
           b"--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(payload).replace(b"\n", b"\r\n") + b"--zz--\r\n")
    uploaded = upload_message.sync(created.id, inbox.id, client=client,
                                   body=UploadMessageRequest(raw=base64.b64encode(raw).decode(), unseen=True))
    assert uploaded.success and uploaded.message.size == len(raw)

    listing = get_messages.sync(created.id, inbox.id, client=client, limit=10)
    assert listing.total == 1
    item = listing.results[0]
    assert item.subject == "Generated client" and item.attachments is True and item.seen is False

    message = get_message.sync(created.id, inbox.id, item.id, client=client)
    assert message.from_.address == "sender@example.com"
    assert "Hello from the generated client" in message.text
    (attachment,) = message.attachments
    assert attachment.filename == "data.bin"

    content = get_message_attachment.sync(created.id, inbox.id, item.id, attachment.id, client=client)
    assert content.payload.read() == payload


def test_generated_client_archive_flow(eider, generated):
    from eider_client.api.archive import get_archived_messages, restore_message
    from eider_client.api.mailboxes import get_mailboxes
    from eider_client.api.messages import delete_message, upload_message
    from eider_client.api.users import create_user
    from eider_client.models import CreateUserRequest, RestoreMessageRequest, UploadMessageRequest

    client = generated.Client(base_url=eider.api_url, raise_on_unexpected_status=True)
    created = create_user.sync(client=client, body=CreateUserRequest(
        username="genarch", password="gen-password", address="genarch@example.com"))
    inbox = [m for m in get_mailboxes.sync(created.id, client=client).results if m.path == "INBOX"][0]
    raw = (b"From: Sender <sender@example.com>\r\nTo: genarch@example.com\r\nSubject: Lifecycle\r\n"
           b"Message-ID: <lifecycle@example.com>\r\n\r\nDeleted, archived, restored.\r\n")
    uploaded = upload_message.sync(created.id, inbox.id, client=client,
                                   body=UploadMessageRequest(raw=base64.b64encode(raw).decode()))
    assert delete_message.sync(created.id, inbox.id, uploaded.message.id, client=client).success

    archive = get_archived_messages.sync(created.id, client=client)
    assert archive.total == 1
    (item,) = archive.results
    assert item.subject == "Lifecycle" and item.mailbox == inbox.id

    restored = restore_message.sync(created.id, item.id, client=client, body=RestoreMessageRequest())
    assert restored.success and restored.mailbox == inbox.id
    assert get_archived_messages.sync(created.id, client=client).total == 0

    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port)
    imap.login("genarch", "gen-password")
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("FETCH", str(restored.id), "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == raw
    imap.logout()
