"""mbsync (isync) against Eider: a 1,000-message mailbox synced both ways — new
mail, flag changes and deletions on either side — and a second sync changes nothing."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from imaputil import PASSWORD, Raw, login, make_message, ok, tagged

MBSYNC = shutil.which("mbsync")
pytestmark = pytest.mark.skipif(MBSYNC is None, reason="mbsync (Debian package isync) is not installed")


def write_config(tmp_path, host, port):
    local = tmp_path / "Maildir"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""
IMAPAccount eider
Host {host}
Port {port}
User alice
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account eider

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
""")
    return rc, local / "INBOX"


def run_mbsync(rc):
    res = subprocess.run([MBSYNC, "-c", str(rc), "-a"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def local_files(inbox):
    return sorted(p for d in ("cur", "new") for p in (inbox / d).iterdir())


def snapshot(inbox):
    return sorted(p.name for p in local_files(inbox))


def bulk_append(eider, count):
    r = Raw(*eider.hostport("IMAP"))
    assert tagged(r.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"
    batch = []
    for i in range(count):
        msg = make_message(i)
        batch.append(b"b%d APPEND INBOX {%d+}\r\n" % (i, len(msg)) + msg + b"\r\n")
        if len(batch) == 100 or i == count - 1:
            r.send(b"".join(batch))
            last = int(batch[-1].split(b" ")[0][1:])
            r.until_tagged(f"b{last}")
            batch = []
    r.close()


def test_mbsync_two_way(eider, tmp_path):
    eider.create_user("alice", PASSWORD)
    bulk_append(eider, 1000)
    rc, inbox = write_config(tmp_path, *eider.hostport("IMAP"))

    t0 = time.monotonic()
    run_mbsync(rc)
    first = time.monotonic() - t0
    assert len(local_files(inbox)) == 1000, first

    # A second sync changes nothing on either side.
    m = login(eider, create=False)
    m.select("INBOX")
    before_status = ok(m.status("INBOX", "(MESSAGES HIGHESTMODSEQ)"))
    before_local = snapshot(inbox)
    run_mbsync(rc)
    assert snapshot(inbox) == before_local
    assert ok(m.status("INBOX", "(MESSAGES HIGHESTMODSEQ)")) == before_status

    # Server side: new mail, a flag change, a deletion.
    ok(m.append("INBOX", None, None, make_message(5000, subject="Fresh from the server")))
    ok(m.store("1", "+FLAGS", "(\\Flagged)"))
    ok(m.store("2", "+FLAGS", "(\\Deleted)"))
    m.expunge()
    run_mbsync(rc)
    files = local_files(inbox)
    assert len(files) == 1000
    assert any(b"Fresh from the server" in p.read_bytes() for p in files)
    flagged = [p for p in files if re.search(r":2,[A-Z]*F", p.name)]
    assert len(flagged) == 1

    # Local side: new mail, a flag change, a deletion.
    new_dir = inbox / "new"
    (new_dir / f"{int(time.time())}.local1.host").write_bytes(make_message(6000, subject="Written locally"))
    def set_flags(path, flags):
        base = path.name.split(":2,")[0]
        old = path.name.split(":2,")[1] if ":2," in path.name else ""
        os.rename(path, inbox / "cur" / f"{base}:2,{''.join(sorted(set(old + flags)))}")

    files = local_files(inbox)
    set_flags(files[10], "T")
    set_flags(files[20], "S")
    run_mbsync(rc)
    typ, data = m.select("INBOX")
    assert data == [b"1000"]
    assert ok(m.search(None, "SUBJECT", '"Written locally"'))[0] != b""
    assert len(ok(m.search(None, "SEEN"))[0].split()) >= 1

    # And the next sync is a no-op again.
    before_local = snapshot(inbox)
    before_status = ok(m.status("INBOX", "(MESSAGES HIGHESTMODSEQ)"))
    run_mbsync(rc)
    assert snapshot(inbox) == before_local
    assert ok(m.status("INBOX", "(MESSAGES HIGHESTMODSEQ)")) == before_status
