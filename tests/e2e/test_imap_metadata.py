"""METADATA (RFC 5464): server and mailbox entries under /private and /shared,
DEPTH and MAXSIZE, the size and count limits, removal with the mailbox."""

from imap_ext_util import lit, server, session, status_of  # noqa: F401 (fixture)


def test_metadata_set_get(server):
    r = session(server)
    caps = r.cmd("CAPABILITY")[0]
    assert b"METADATA" in caps and b"METADATA-SERVER" in caps
    lines = r.cmd('SETMETADATA "" (/shared/comment "Server note" /private/vendor/eider/a "1" /private/vendor/eider/a/b "2")')
    assert status_of(lines) == b"OK", lines
    lines = r.cmd(b"SETMETADATA INBOX (/private/comment " + lit(b"line1\r\nline2") + b")")
    assert status_of(lines) == b"OK", lines
    lines = r.cmd('GETMETADATA "" /shared/comment')
    assert lines[0] == b'* METADATA "" (/shared/comment "Server note")', lines
    lines = r.cmd("GETMETADATA INBOX (/private/comment /shared/comment)")
    assert lines[0] == b'* METADATA "INBOX" (/private/comment {12}\r\nline1\r\nline2 /shared/comment NIL)', lines
    # DEPTH: 0 the entry, 1 its children too, infinity everything below.
    lines = r.cmd('GETMETADATA (DEPTH 1) "" /private/vendor/eider')
    assert lines[0] == b'* METADATA "" (/private/vendor/eider/a "1" /private/vendor/eider NIL)', lines
    lines = r.cmd('GETMETADATA (DEPTH infinity) "" /private/vendor')
    assert b"/private/vendor/eider/a/b" in lines[0] and b'/private/vendor/eider/a "1"' in lines[0]
    # MAXSIZE leaves out longer values and reports the longest.
    lines = r.cmd('GETMETADATA (MAXSIZE 5) "" (/shared/comment /private/vendor/eider/a)')
    assert lines[0] == b'* METADATA "" (/private/vendor/eider/a "1")', lines
    assert b"OK [METADATA LONGENTRIES 11]" in lines[-1], lines
    # NIL removes; names are case-insensitive.
    assert status_of(r.cmd('SETMETADATA "" (/SHARED/Comment NIL)')) == b"OK"
    lines = r.cmd('GETMETADATA "" /shared/comment')
    assert lines[0] == b'* METADATA "" (/shared/comment NIL)', lines


def test_metadata_limits_and_lifetime(server):
    r = session(server)
    big = b"v" * (64 * 1024 + 1)
    lines = r.cmd(b"SETMETADATA INBOX (/private/big " + lit(big) + b")")
    assert b"NO [METADATA MAXSIZE 65536]" in lines[-1], lines
    for bad in ("/private", "/other/x", "/private/a*", "/private//x"):
        assert status_of(r.cmd(f'SETMETADATA INBOX ({bad} "x")')) == b"BAD", bad
    assert b"NO [NONEXISTENT]" in r.cmd('SETMETADATA Nope (/private/x "1")')[-1]
    # 512 entries per user: one command with 513 changes nothing.
    # 513 writes in one store transaction: slow on a small MongoDB server.
    r.sock.settimeout(120)
    many = " ".join(f'/private/n{i} "{i}"' for i in range(513))
    lines = r.cmd(f"SETMETADATA INBOX ({many})")
    assert b"NO [METADATA TOOMANY]" in lines[-1], lines
    lines = r.cmd("GETMETADATA INBOX /private/n1")
    assert lines[0] == b'* METADATA "INBOX" (/private/n1 NIL)', lines
    # Entries go with their mailbox: a new mailbox of the same name has none.
    r.cmd("CREATE Temp")
    assert status_of(r.cmd('SETMETADATA Temp (/shared/comment "temp")')) == b"OK"
    assert b'"temp"' in r.cmd("GETMETADATA Temp /shared/comment")[0]
    r.cmd("DELETE Temp")
    r.cmd("CREATE Temp")
    lines = r.cmd("GETMETADATA Temp /shared/comment")
    assert lines[0] == b'* METADATA "Temp" (/shared/comment NIL)', lines
