"""Failed-login limits per user and per source IP: 50 wrong passwords on IMAP,
POP3 and the API are refused with each protocol's answer once the limit is hit,
every attempt lands in the auth log, and the limit resets after its window or a
successful login."""

import time

from auth_util import authenticate, imap_login, pop3_login


def log_events(server, uid, protocol):
    status, log = server.api("GET", f"/users/{uid}/authlog?limit=250")
    assert status == 200
    return [e for e in log["results"] if e.get("protocol") == protocol and e["action"] == "authentication"]


def test_imap_rate_limit(eider):
    uid = eider.create_user("imaplimit", password="right password")
    answers = [imap_login(eider, "imaplimit", f"wrong {i}")[1] for i in range(50)]
    assert all("AUTHENTICATIONFAILED" in a for a in answers[:12]), answers[:12]
    assert all("UNAVAILABLE" in a for a in answers[12:]), answers[12:]
    ok, answer = imap_login(eider, "imaplimit", "right password")
    assert not ok and "UNAVAILABLE" in answer, "refused while limited, even with the right password"
    events = log_events(eider, uid, "IMAP")
    counts = {}
    for e in events:
        counts[e["result"]] = counts.get(e["result"], 0) + e["events"]
    assert counts == {"fail": 12, "ratelimited": 39}, counts
    assert all(e["ip"] == "127.0.0.1" for e in events)


def test_pop3_rate_limit(eider):
    uid = eider.create_user("poplimit", password="right password")
    answers = [pop3_login(eider, "poplimit", f"wrong {i}")[1] for i in range(50)]
    assert all("[AUTH]" in a for a in answers[:12]), answers[:12]
    assert all("[SYS/TEMP]" in a for a in answers[12:]), answers[12:]
    events = log_events(eider, uid, "POP3")
    assert sum(e["events"] for e in events) == 50


def test_api_rate_limit(eider):
    uid = eider.create_user("apilimit", password="right password")
    answers = [authenticate(eider, "apilimit", f"wrong {i}") for i in range(50)]
    assert all(s == 403 and b["code"] == "AuthFailed" for s, b in answers[:12])
    assert all(s == 429 and b["code"] == "RateLimitedError" for s, b in answers[12:]), answers[12]
    events = log_events(eider, uid, "API")
    assert sum(e["events"] for e in events) == 50
    # Unknown users are limited too (by name), without revealing they do not exist.
    answers = [authenticate(eider, "nobody-here", "x")[0] for _ in range(14)]
    assert answers[:12] == [403] * 12 and answers[12:] == [429, 429]


def test_limit_resets_after_window_and_success(start_eider):
    server = start_eider(extra_args=["--set", "auth.userFailures=3", "--set", "auth.userWindow=2"])
    server.create_user("resetme", password="right password")
    statuses = [authenticate(server, "resetme", "wrong")[0] for _ in range(4)]
    assert statuses == [403, 403, 403, 429]
    assert authenticate(server, "resetme", "right password")[0] == 429
    time.sleep(2.3)
    assert authenticate(server, "resetme", "right password")[0] == 200
    # A success clears the count: two failures, a success, two failures: still fine.
    for _ in range(2):
        authenticate(server, "resetme", "wrong")
    assert authenticate(server, "resetme", "right password")[0] == 200
    for _ in range(2):
        authenticate(server, "resetme", "wrong")
    assert authenticate(server, "resetme", "right password")[0] == 200


def test_ip_rate_limit(start_eider):
    # Every user of a limited source is refused (test_hardening_auth covers the
    # default, which spares users without failures of their own).
    server = start_eider(extra_args=[
        "--set", "auth.ipFailures=5", "--set", "auth.ipWindow=60",
        "--set", "auth.ipLimitSparesCleanUsers=false",
    ])
    for name in ["ipa", "ipb", "ipc"]:
        server.create_user(name, password="right password")
    for i in range(5):
        status, _ = authenticate(server, ["ipa", "ipb"][i % 2], "wrong", ip="192.0.2.10")
        assert status == 403
    status, body = authenticate(server, "ipc", "right password", ip="192.0.2.10")
    assert status == 429 and body["code"] == "RateLimitedError"
    status, _ = authenticate(server, "ipc", "right password", ip="192.0.2.11")
    assert status == 200, "another source is not affected"


def test_token_less_sign_in_counts_against_the_peer(start_eider):
    """With access control on and the webmail on, POST /authenticate needs no token,
    so its `ip` field is not believed: failures count against the connection's own
    address, and a claimed address does not escape the limit."""
    secret = "ratelimit-root-secret"
    server = start_eider(
        extra_args=[
            "--set", "auth.ipFailures=5", "--set", "auth.ipWindow=60",
            "--set", "auth.ipLimitSparesCleanUsers=false",
        ],
        env={"EIDER_API__ACCESSCONTROL__ENABLED": "true", "EIDER_API__ACCESSCONTROL__SECRET": secret},
    )
    for name in ["ipa", "ipb", "ipc"]:
        status, _ = server.api("POST", "/users", {"username": name, "password": "right password"}, token=secret)
        assert status == 200
    for i in range(5):
        status, _ = authenticate(server, ["ipa", "ipb"][i % 2], "wrong", ip=f"192.0.2.{i + 1}")
        assert status == 403
    status, body = authenticate(server, "ipc", "right password", ip="192.0.2.99")
    assert status == 429 and body["code"] == "RateLimitedError", (status, body)
    # A trusted backend (root token) still speaks for its own clients' addresses.
    status, _ = server.api(
        "POST", "/authenticate", {"username": "ipc", "password": "right password", "ip": "192.0.2.99"}, token=secret
    )
    assert status == 200
