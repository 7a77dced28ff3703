"""`[log] format = "json"`: every line is a JSON object; session start/end and
deliveries carry the session id, user id, remote address and outcome, never the
password or the message."""

import imaplib
import json
import re
import time

from conftest import Eider
from lmtp_support import deliver, make_message

ADDR_RE = re.compile(r"(API|IMAP|POP3|LMTP) listening on (?:http://)?(\S+)")


def start_json(tmp_path):
    server = Eider(tmp_path / "data", extra_args=("--set", 'log.format="json"'))
    deadline = time.time() + 30
    while time.time() < deadline:
        found = {}
        for line in list(server.log_lines):
            try:
                msg = json.loads(line).get("message", "")
            except ValueError:
                continue
            m = ADDR_RE.search(msg)
            if m:
                found[m.group(1)] = m.group(2)
        if len(found) >= 4:
            server.addresses = found
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("eider did not start:\n" + "\n".join(server.log_lines))


def test_json_logs_parse_line_by_line(tmp_path):
    server = start_json(tmp_path)
    try:
        secret_pw = "very-secret-pass-77"
        uid = server.create_user("erin", secret_pw, address="erin@example.com")
        body_marker = "BODY-MARKER-do-not-log"
        _, replies = deliver(server, ["erin@example.com"], make_message(body=body_marker + "\r\n"))
        assert replies[0][0] == 250
        host, port = server.hostport("IMAP")
        m = imaplib.IMAP4(host, port)
        m.login("erin", secret_pw)
        m.logout()
        time.sleep(0.5)
    finally:
        assert server.stop() == 0
    records = []
    for line in server.log_lines:
        if not line.strip():
            continue
        records.append(json.loads(line))  # every line parses
        assert secret_pw not in line and body_marker not in line
    for r in records:
        assert {"timestamp", "level", "message"} <= r.keys(), r

    def events(name, proto):
        return [r for r in records if r.get("event") == name and r.get("span", {}).get("proto") == proto]

    starts, ends = events("session_start", "imap"), events("session_end", "imap")
    assert starts and ends
    end = [e for e in ends if e["user"] == uid]
    assert end, ends
    sid = end[0]["span"]["session"]
    assert any(s["span"]["session"] == sid for s in starts)
    assert end[0]["outcome"] == "logout"
    assert end[0]["span"]["remote"].startswith("127.0.0.1:")

    delivery = [r for r in records if r.get("event") == "delivery"]
    assert len(delivery) == 1, delivery
    d = delivery[0]
    assert d["user"] == uid and d["outcome"] == 250 and d["span"]["proto"] == "lmtp"
    lmtp_sessions = {r["span"]["session"] for r in events("session_start", "lmtp")}
    assert d["span"]["session"] in lmtp_sessions
    assert events("session_end", "lmtp")
