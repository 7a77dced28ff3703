"""IMAP input limits (issue #13): literals before login, repeated sequence sets,
SEARCH programs with many keys or deep nesting. Raw bytes over real sockets; memory
is read from the server's /proc/<pid>/status with generous bounds."""

from imaputil import PASSWORD, Raw, make_message, raw_login, tagged

MB = 1024 * 1024
TEN_MB = 10 * MB


def mem_kb(eider, key):
    """VmRSS / VmHWM of the server process, in kB."""
    with open(f"/proc/{eider.proc.pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc status")


def send_quietly(sock, data):
    """Send what the server takes; it may close the connection part way."""
    try:
        sock.sendall(data)
    except OSError:
        pass


def lines_until_closed_or_tagged(r, tag):
    """Response lines up to the tagged one, or until the server closes."""
    out = []
    try:
        while True:
            line = r.readline()
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                return out
    except (EOFError, OSError):
        return out


def fill_inbox(r, count):
    """APPEND `count` small messages in one pipelined burst (LITERAL+)."""
    burst = b""
    for i in range(count):
        msg = make_message(i)
        burst += b"f%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(msg), msg)
    r.send(burst)
    for i in range(count):
        status, _ = tagged(r.until_tagged(f"f{i}"))
        assert status == "OK"


def test_preauth_literals_are_refused_without_holding_their_size(eider):
    host, port = eider.hostport("IMAP")
    before = mem_kb(eider, "VmRSS")
    conns = []
    firsts = []
    # Synchronizing literals: BAD [TOOBIG] at once, no "+" (the client never sends
    # the bytes). Should a server answer "+", the bytes are sent, as an attacker would.
    for i, command in enumerate([b"APPEND INBOX {%d}"] * 4 + [b"LOGIN {%d}"]):
        r = Raw(host, port)
        conns.append(r)
        r.send(b"s%d " % i + command % TEN_MB + b"\r\n")
        first = r.readline()
        if first.startswith(b"+"):
            send_quietly(r.sock, b"x" * (TEN_MB - 1))
        firsts.append((i, first))
    # Non-synchronizing literals: the client sends the bytes right away; the server
    # refuses with BAD, says BYE and closes instead of reading 10 MB.
    nonsync = []
    for i, command in enumerate([b"APPEND INBOX {%d+}"] * 4 + [b"LOGIN {%d+}"]):
        r = Raw(host, port)
        conns.append(r)
        nonsync.append(r)
        tag = b"n%d" % i
        send_quietly(r.sock, tag + b" " + command % TEN_MB + b"\r\n" + b"x" * (TEN_MB - 1))
    grown = mem_kb(eider, "VmRSS") - before
    print(f"server RSS grew by {grown} kB")
    # 8 APPENDs announced 80 MB between them and sent most of it.
    assert grown < 30 * 1024, f"server RSS grew by {grown} kB"
    for i, first in firsts:
        assert first.startswith(b"s%d BAD [TOOBIG] Command too long before login" % i), first
    for i, r in enumerate(nonsync):
        lines = lines_until_closed_or_tagged(r, f"n{i}")
        # The refusal may be lost to the reset a close with unread input causes;
        # when it arrives it is the clear one.
        for line in lines:
            assert line.startswith((b"* BYE", b"n%d BAD [TOOBIG]" % i)), lines
    for r in conns:
        r.close()
    # The server is still there and LOGIN still works.
    eider.create_user("alice", PASSWORD)
    r = Raw(host, port)
    assert tagged(r.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"
    r.close()


def test_preauth_command_size_is_bounded_but_login_literals_work(eider):
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAP")
    r = Raw(host, port)
    # A 9 KB line before login is refused as too long; the session goes on.
    lines = r.cmd(b"LOGIN alice " + b"p" * 9000)
    assert lines[-1].startswith(b"r1 BAD [TOOBIG]"), lines
    # So is a small line followed by literals adding up to more than 8 KiB.
    r.send(b"r2 LOGIN {5000+}\r\n" + b"a" * 5000 + b" {4000}\r\n")
    line = r.readline()
    assert line.startswith(b"r2 BAD [TOOBIG] Command too long before login (max 8192 bytes)"), line
    # A LOGIN with literals (synchronizing, then LITERAL+) works.
    r.send(b"r3 LOGIN {5}\r\n")
    assert r.readline().startswith(b"+")
    r.send(b"alice {%d}\r\n" % len(PASSWORD))
    assert r.readline().startswith(b"+")
    r.send(PASSWORD.encode() + b"\r\n")
    assert tagged(r.until_tagged("r3"))[0] == "OK"
    r.close()
    r = Raw(host, port)
    r.send(b"a LOGIN {5+}\r\nalice {%d+}\r\n%s\r\n" % (len(PASSWORD), PASSWORD.encode()))
    assert tagged(r.until_tagged("a"))[0] == "OK"
    r.close()


def test_authenticated_large_append_still_works(eider):
    r = raw_login(eider)
    body = (b"0123456789abcdef" * 63 + b"\r\n") * (5 * 1024)  # 5 MiB in 1 KiB lines
    msg = b"From: a@example.com\r\nSubject: big\r\n\r\n" + body
    r.send(b"a APPEND INBOX {%d}\r\n" % len(msg))
    assert r.readline().startswith(b"+")
    r.send(msg + b"\r\n")
    assert tagged(r.until_tagged("a"))[0] == "OK"
    r.cmd("SELECT INBOX")
    lines = r.cmd("FETCH 1 RFC822.SIZE")
    assert b"RFC822.SIZE %d" % len(msg) in lines[0], lines
    r.close()


def test_refused_literal_plus_is_skipped_within_a_bound(start_eider):
    eider = start_eider(extra_args=["--set", "imap.maxMB=1"])
    r = raw_login(eider)
    # A little over the limit: skipped and answered, the session goes on.
    r.send(b"a1 APPEND INBOX {1500000+}\r\n" + b"x" * 1500000 + b"\r\n")
    assert r.until_tagged("a1")[-1].startswith(b"a1 NO [TOOBIG]")
    # A refused command's next synchronizing literal gets the answer, not "+".
    r.send(b"a2 LOGIN {1500000+}\r\n" + b"x" * 1500000 + b" {5}\r\n")
    assert r.until_tagged("a2")[-1].startswith(b"a2 BAD [TOOBIG]")
    assert tagged(r.cmd("NOOP"))[0] == "OK"
    # Far over it (here 3 MB, past twice the limit): BAD or NO, BYE, closed,
    # rather than reading whatever size was announced.
    send_quietly(r.sock, b"a3 APPEND INBOX {3000000+}\r\n" + b"x" * 3000000 + b"\r\n")
    lines = lines_until_closed_or_tagged(r, "a3")
    for line in lines:
        assert line.startswith((b"* BYE", b"a3 NO [TOOBIG]")), lines
    if lines and lines[-1].startswith(b"a3 "):
        lines += lines_until_closed_or_tagged(r, "never")
    assert not any(line.startswith(b"* OK") or b" OK " in line for line in lines), lines
    try:
        r.send(b"a4 NOOP\r\n")
        assert r.readline() is None, "the session went on"
    except (EOFError, OSError):
        pass
    r.close()


def test_authenticated_literal_is_not_reserved_up_front(eider):
    """A logged-in client announcing a large APPEND and stalling costs what it sent.
    Reserved but untouched memory does not show in RSS, so this one reads VmSize."""
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAP")
    before = mem_kb(eider, "VmSize")
    conns = []
    for _ in range(8):
        r = Raw(host, port)
        assert tagged(r.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"
        r.send(b"a APPEND INBOX {60000000}\r\n")
        assert r.readline().startswith(b"+")
        r.send(b"x" * 1000)
        conns.append(r)
    # One more session's round trips: the last "+" above was followed at once by
    # the server's read of the literal.
    last = Raw(host, port)
    assert tagged(last.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"
    conns.append(last)
    grown = mem_kb(eider, "VmSize") - before
    print(f"server VmSize grew by {grown} kB")
    # 8 x 60 MB announced; thread arenas and the logins account for some growth.
    assert grown < 300 * 1024, f"server VmSize grew by {grown} kB"
    for r in conns:
        r.close()


def test_repeated_sequence_sets_cost_their_size(eider):
    r = raw_login(eider)
    count = 1000
    fill_inbox(r, count)
    r.cmd("SELECT INBOX")
    repeated = ",".join(["1:*"] * 16_000)  # a 64 KB line naming 16 million numbers
    peak = mem_kb(eider, "VmHWM")
    lines = r.cmd(f"FETCH {repeated} (FLAGS)")
    assert tagged(lines)[0] == "OK", lines[-1]
    assert len(lines) == count + 1  # each message once
    lines = r.cmd(f"UID FETCH {repeated} (UID)")
    assert len(lines) == count + 1
    lines = r.cmd(f"STORE {repeated} +FLAGS.SILENT (\\Flagged)")
    assert tagged(lines)[0] == "OK", lines[-1]
    lines = r.cmd(f"UID SEARCH {repeated} FLAGGED")
    assert lines[0].split()[2:] == [str(u).encode() for u in range(1, count + 1)]
    lines = r.cmd(f"SEARCH UID {repeated}")
    assert len(lines[0].split()) == count + 2
    # Out of range is still an error for sequence numbers, whatever the repeats.
    lines = r.cmd(f"FETCH {repeated},{count + 1} FLAGS")
    assert tagged(lines)[0] == "BAD"
    grown = mem_kb(eider, "VmHWM") - peak
    assert grown < 30 * 1024, f"server peak RSS grew by {grown} kB"
    r.close()


def test_search_with_many_keys_or_deep_nesting(eider):
    r = raw_login(eider)
    fill_inbox(r, 3)
    r.cmd("SELECT INBOX")
    # 2,000 keys are evaluated.
    lines = r.cmd("SEARCH " + " ".join(["UNDELETED"] * 2000))
    assert tagged(lines)[0] == "OK", lines[-1]
    assert lines[0] == b"* SEARCH 1 2 3"
    lines = r.cmd("UID SEARCH " + " ".join(f"NOT SUBJECT nothing{i}" for i in range(2000)))
    assert tagged(lines)[0] == "OK", lines[-1]
    assert lines[0] == b"* SEARCH 1 2 3"
    # Past the limit: a clear BAD naming it, before the store is asked.
    lines = r.cmd("SEARCH " + " ".join(["ALL"] * 6000))
    status, text = tagged(lines)
    assert status == "BAD" and "too many search keys (max 5000)" in text, lines[-1]
    # Nesting up to the limit works; deeper is BAD, however deep.
    lines = r.cmd("SEARCH " + "NOT " * 32 + "ALL UNDELETED")
    assert tagged(lines)[0] == "OK", lines[-1]
    assert lines[0] == b"* SEARCH 1 2 3"
    for program in ["NOT " * 64 + "ALL UNDELETED",
                    "(" * 30_000 + "ALL" + ")" * 30_000,
                    "OR " * 20_000 + "ALL ALL"]:
        lines = r.cmd("SEARCH " + program)
        status, text = tagged(lines)
        assert status == "BAD" and "nested too deeply" in text, lines[-1]
    assert tagged(r.cmd("NOOP"))[0] == "OK"
    r.close()
