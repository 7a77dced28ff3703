"""Extensions: CONDSTORE/QRESYNC, STARTTLS, implicit TLS, COMPRESS=DEFLATE,
UTF8=ACCEPT, UIDPLUS, literal limits."""

import imaplib
import re
import ssl
import zlib

from imaputil import PASSWORD, SIMPLE, Raw, login, make_message, ok, raw_login, tagged


def modseq_of(line):
    return int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))


def test_condstore(eider):
    r = raw_login(eider)
    for i in range(3):
        r.cmd("APPEND INBOX {%d+}\r\n%s" % (len(make_message(i)), make_message(i).decode()))
    lines = r.cmd("SELECT INBOX (CONDSTORE)")
    highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(lines)).group(1))
    lines = r.cmd("FETCH 1:* (FLAGS MODSEQ)")
    mods = [modseq_of(l) for l in lines[:-1]]
    assert len(mods) == 3 and max(mods) == highest
    lines = r.cmd("STORE 2 +FLAGS (\\Seen)")
    new = modseq_of(lines[0])
    assert new > highest
    lines = r.cmd(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert len(lines) == 2 and lines[0].startswith(b"* 2 FETCH")
    lines = r.cmd(f"STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)")
    assert re.search(rb"OK \[MODIFIED 2\]", lines[-1]), lines
    assert any(l.startswith(b"* 1 FETCH") for l in lines)
    lines = r.cmd(f"UID SEARCH MODSEQ {new}")
    assert lines[0].startswith(b"* SEARCH 1 2 (MODSEQ ")
    lines = r.cmd("STATUS INBOX (HIGHESTMODSEQ)")
    assert b"HIGHESTMODSEQ" in lines[0]


def test_qresync(eider):
    r = raw_login(eider)
    for i in range(4):
        r.cmd("APPEND INBOX {%d+}\r\n%s" % (len(make_message(i)), make_message(i).decode()))
    lines = r.cmd("SELECT INBOX")
    validity = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(lines)).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(lines)).group(1))
    other = login(eider, create=False)
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.store("2", "+FLAGS", "(\\Answered)")
    r.cmd("UNSELECT")
    assert tagged(r.cmd(f"SELECT INBOX (QRESYNC ({validity} {modseq}))"))[0] == "BAD"
    lines = r.cmd("ENABLE QRESYNC")
    assert lines[0] == b"* ENABLED QRESYNC"
    lines = r.cmd(f"SELECT INBOX (QRESYNC ({validity} {modseq} 1:4))")
    assert b"* VANISHED (EARLIER) 1" in lines, lines
    fetches = [l for l in lines if b"FETCH" in l]
    assert len(fetches) == 1 and b"UID 3" in fetches[0] and b"\\Answered" in fetches[0]
    # With QRESYNC, expunges are reported as VANISHED.
    r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    lines = r.cmd("EXPUNGE")
    assert lines[0] == b"* VANISHED 2"
    lines = r.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert lines[0].startswith(b"* VANISHED (EARLIER) 1:2"), lines
    lines = r.cmd("SELECT Trash")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"


def test_starttls(eider):
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAP")
    m = imaplib.IMAP4(host, port)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ok(m.starttls(ssl_context=ctx))
    assert "STARTTLS" not in m.capabilities
    ok(m.login("alice", PASSWORD))
    m.select("INBOX")
    ok(m.append("INBOX", None, None, SIMPLE))
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == SIMPLE
    m.logout()


def test_starttls_drops_pipelined_plaintext(eider):
    r = Raw(*eider.hostport("IMAP"))
    r.send("s1 STARTTLS\r\nx1 CAPABILITY\r\n")
    lines = r.until_tagged("s1")
    assert tagged(lines)[0] == "OK"
    r.starttls()
    lines = r.cmd("NOOP")
    assert lines == [lines[-1]] and tagged(lines)[0] == "OK"
    assert tagged(r.cmd("STARTTLS"))[0] == "BAD"


def test_implicit_tls(start_eider):
    eider = start_eider(extra_args=["--set", "imap.secure=true"])
    assert "IMAPS" in eider.addresses
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAPS")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
    assert "STARTTLS" not in m.capabilities
    ok(m.login("alice", PASSWORD))
    m.logout()


def test_compress_deflate(start_eider):
    eider = start_eider(extra_args=["--set", "imap.enableCompression=true"])
    r = raw_login(eider)
    lines = r.cmd("CAPABILITY")
    assert b"COMPRESS=DEFLATE" in lines[0]
    assert tagged(r.cmd("COMPRESS DEFLATE"))[0] == "OK"
    comp = zlib.compressobj(wbits=-15)
    decomp = zlib.decompressobj(wbits=-15)

    def send(text):
        r.sock.sendall(comp.compress(text) + comp.flush(zlib.Z_SYNC_FLUSH))

    def read_until(tag):
        buf = b""
        while not re.search(rb"(^|\r\n)" + tag + rb" [A-Z]+ [^\r\n]*\r\n", buf):
            chunk = r.sock.recv(65536)
            assert chunk, buf
            buf += decomp.decompress(chunk)
        return buf

    send(b"c1 SELECT INBOX\r\n")
    out = read_until(b"c1")
    assert b"c1 OK [READ-WRITE]" in out
    send(b"c2 APPEND INBOX {%d+}\r\n" % len(SIMPLE) + SIMPLE + b"\r\nc3 FETCH 1 (BODY.PEEK[])\r\n")
    out = read_until(b"c3")
    assert SIMPLE in out
    send(b"c4 COMPRESS DEFLATE\r\n")
    out = read_until(b"c4")
    assert b"c4 NO [COMPRESSIONACTIVE]" in out


def test_utf8_accept(eider):
    r = raw_login(eider)
    assert r.cmd("ENABLE UTF8=ACCEPT")[0] == b"* ENABLED UTF8=ACCEPT"
    msg = "From: jörg@example.com\r\nSubject: Grüße\r\n\r\nÄpfel\r\n".encode()
    lines = r.cmd(b"APPEND INBOX UTF8 (~{%d+}\r\n" % len(msg) + msg + b")")
    assert tagged(lines)[0] == "OK", lines
    r.cmd("SELECT INBOX")
    lines = r.cmd("SEARCH CHARSET UTF-8 BODY {6+}\r\n" + "äpfel")
    assert lines[0] == b"* SEARCH 1", lines


def test_limits_answered_not_crashed(start_eider):
    eider = start_eider(extra_args=["--set", "imap.maxMB=1"])
    r = raw_login(eider)
    r.send("a1 APPEND INBOX {2000000}\r\n")
    line = r.readline()
    assert line.startswith(b"a1 NO [TOOBIG]"), line
    # A refused LITERAL+ literal is read and dropped, then answered.
    r.send(b"a2 APPEND INBOX {1500000+}\r\n" + b"x" * 1500000 + b"\r\n")
    lines = r.until_tagged("a2")
    assert lines[-1].startswith(b"a2 NO [TOOBIG]")
    r.send("a3 LOGIN {5000000}\r\n")
    assert r.readline().startswith(b"a3 BAD")
    r.send(b"a4 NOOP " + b"y" * 100_000 + b"\r\n")
    assert r.readline().startswith(b"a4 BAD [TOOBIG]")
    assert tagged(r.cmd("NOOP"))[0] == "OK"
    lines = r.cmd("APPEND INBOX {%d+}\r\n" % len(SIMPLE) + SIMPLE.decode())
    assert tagged(lines)[0] == "OK"


def test_proxy_protocol(start_eider):
    eider = start_eider(extra_args=["--set", "imap.useProxy=true", "--set", "imap.ignoreSTARTTLS=false"])
    eider.create_user("alice", PASSWORD)
    host, port = eider.hostport("IMAP")
    import socket
    s = socket.create_connection((host, port), timeout=10)
    # A v1 header naming a non-loopback client: plaintext login is then refused.
    s.sendall(b"PROXY TCP4 192.0.2.7 192.0.2.1 40000 143\r\n")
    r = Raw.__new__(Raw)
    r.sock, r.buf, r.n = s, b"", 0
    r.greeting = r.readline()
    assert b"LOGINDISABLED" in r.greeting
    lines = r.cmd(f"LOGIN alice {PASSWORD}")
    assert b"NO [PRIVACYREQUIRED]" in lines[-1]
    r.close()
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 143\r\n")
    r = Raw.__new__(Raw)
    r.sock, r.buf, r.n = s, b"", 0
    r.greeting = r.readline()
    assert tagged(r.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"


def test_sighup_reloads_certificate(start_eider):
    import signal
    import time
    eider = start_eider()
    eider.create_user("alice", PASSWORD)
    eider.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert eider.proc.poll() is None
    assert any("TLS certificate reloaded" in l for l in eider.log_lines)
    r = Raw(*eider.hostport("IMAP"))
    assert tagged(r.cmd("STARTTLS"))[0] == "OK"
    r.starttls()
    assert tagged(r.cmd(f"LOGIN alice {PASSWORD}"))[0] == "OK"


def test_idle_timeout(start_eider):
    import time
    eider = start_eider(extra_args=["--set", "imap.idleTimeout=1"])
    r = raw_login(eider)
    time.sleep(1.5)
    assert r.readline().startswith(b"* BYE")


def test_condstore_enabling_command_announces_highestmodseq(eider):
    r = raw_login(eider)
    r.cmd("APPEND INBOX {%d+}\r\n%s" % (len(SIMPLE), SIMPLE.decode()))
    r.cmd("APPEND INBOX (\\Seen) {%d+}\r\n%s" % (len(SIMPLE), SIMPLE.decode()))
    r.cmd("SELECT INBOX")
    lines = r.cmd("FETCH 1 (MODSEQ)")
    assert lines[0].startswith(b"* OK [HIGHESTMODSEQ ")
    assert lines[1].startswith(b"* 1 FETCH (MODSEQ (")
    lines = r.cmd("FETCH 1 (MODSEQ)")
    assert lines[0].startswith(b"* 1 FETCH")
    first = modseq_of(lines[0])
    lines = r.cmd("SEARCH RETURN (MIN) MODSEQ 1", tag="m1")
    assert lines[0] == b'* ESEARCH (TAG "m1") MIN 1 MODSEQ %d' % first
