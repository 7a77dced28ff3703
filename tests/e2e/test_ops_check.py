"""`eider check` finds a corrupted chunk and an orphaned blob; `--repair` removes
what has one right answer and leaves the rest reported."""

import hashlib
import json
import sqlite3

from lmtp_support import deliver, make_message
from ops_util import cli


def test_check_finds_corruption_and_orphans(start_eider, tmp_path):
    data = tmp_path / "data"
    eider = start_eider(data)
    eider.create_user("dora", "dora-pass-1", address="dora@example.com")
    for n in range(5):
        body = ("attachment-ish line %d\r\n" % n) * 300
        _, replies = deliver(eider, ["dora@example.com"], make_message(subject=f"m{n}", body=body))
        assert replies[0][0] == 250

    healthy = cli(data, "check")
    assert healthy.returncode == 0, (healthy.stdout, healthy.stderr)
    assert b"ok:" in healthy.stdout
    sampled = cli(data, "--json", "check", "--sample", "2")
    assert sampled.returncode == 0 and json.loads(sampled.stdout)["contents_checked"] <= 2

    eider.stop()
    db = sqlite3.connect(data / "eider.sqlite3")
    # Flip bytes in the middle of one chunk.
    rowid, stored = db.execute("SELECT rowid, data FROM blob_chunks ORDER BY length(data) DESC LIMIT 1").fetchone()
    mid = len(stored) // 2
    broken = stored[:mid] + bytes(b ^ 0x55 for b in stored[mid:mid + 8]) + stored[mid + 8:]
    db.execute("UPDATE blob_chunks SET data = ? WHERE rowid = ?", (broken, rowid))
    # An orphaned blob: intact, but nothing refers to it.
    payload = b"nobody refers to me"
    digest = hashlib.sha256(payload).digest()
    db.execute("INSERT INTO blobs (hash, length, chunk_size, refcount) VALUES (?, ?, 262144, 1)", (digest, len(payload)))
    db.execute("INSERT INTO blob_chunks (hash, idx, compressed, data) VALUES (?, 0, 0, ?)", (digest, payload))
    db.commit()
    db.close()

    damaged = cli(data, "check")
    out = damaged.stdout.decode()
    assert damaged.returncode == 1, out
    assert "blobs whose refcount differs" in out
    assert "corrupted chunk" in out or "unreadable" in out, out
    assert "DAMAGED" in out

    repaired = cli(data, "--json", "check", "--repair")
    report = json.loads(repaired.stdout)
    assert any("orphaned blobs deleted" in r for r in report["repaired"]), report
    # The corrupted chunk cannot be rebuilt: still reported, still non-zero.
    assert repaired.returncode == 1
    assert report["problems"] and not any("refcount" in p for p in report["problems"]), report

    db = sqlite3.connect(data / "eider.sqlite3")
    assert db.execute("SELECT count(*) FROM blobs WHERE hash = ?", (digest,)).fetchone()[0] == 0
    db.execute("UPDATE blob_chunks SET data = ? WHERE rowid = ?", (stored, rowid))
    db.commit()
    db.close()
    fixed = cli(data, "check")
    assert fixed.returncode == 0, fixed.stdout
