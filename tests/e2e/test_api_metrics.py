"""GET /metrics: Prometheus text that a standard parser reads
(prometheus_client.parser), with counters that move after real IMAP, POP3, LMTP
and API actions, store latency histograms, and access control when it is on."""

import imaplib
import poplib
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from lmtp_support import deliver, make_message, user

SECRET = "metrics-root-secret-0123456789"


def scrape(server, token=None):
    req = urllib.request.Request(server.api_url + "/metrics")
    if token:
        req.add_header("X-Access-Token", token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    samples = {}
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move_after_real_actions(eider):
    before, _ = scrape(eider)
    uid = user(eider, "metrics.user")
    # LMTP: one delivery, stored.
    rcpt, data = deliver(eider, ["metrics.user@example.com"], make_message("counted"))
    assert data[0][0] == 250
    # IMAP: a failed and a successful login, a SELECT and a FETCH.
    host, port = eider.hostport("IMAP")
    imap = imaplib.IMAP4(host, port)
    try:
        imap.login("metrics.user", "wrong-password")
    except imaplib.IMAP4.error:
        pass
    imap = imaplib.IMAP4(host, port)
    imap.login("metrics.user", "secret-pass")
    imap.select("INBOX")
    imap.fetch("1", "(FLAGS BODY[])")
    imap.logout()
    # POP3: a login and STAT.
    host, port = eider.hostport("POP3")
    pop = poplib.POP3(host, port, timeout=15)
    pop.user("metrics.user")
    pop.pass_("secret-pass")
    pop.stat()
    pop.quit()
    # API: a 404.
    assert eider.api("GET", f"/users/{uid}/mailboxes/0123456789abcdef01234567")[0] == 404

    after, types = scrape(eider)

    def moved(name, by=1, **labels):
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta >= by, (name, labels, delta)

    moved("eider_connections_total", by=2, protocol="imap")
    moved("eider_connections_total", protocol="pop3")
    moved("eider_connections_total", protocol="lmtp")
    moved("eider_connections_total", protocol="api")
    moved("eider_commands_total", by=2, protocol="imap", command="LOGIN")
    moved("eider_commands_total", protocol="imap", command="FETCH")
    moved("eider_commands_total", protocol="pop3", command="STAT")
    moved("eider_commands_total", protocol="lmtp", command="RCPT")
    moved("eider_auth_total", protocol="imap", result="success")
    moved("eider_auth_total", protocol="imap", result="failure")
    moved("eider_auth_total", protocol="pop3", result="success")
    moved("eider_deliveries_total", result="stored")
    moved("eider_api_requests_total", method="GET", status="404")
    moved("eider_store_seconds_count", operation="append")
    moved("eider_store_seconds_count", operation="fetch_messages")
    assert types["eider_store_seconds"] == "histogram"
    assert types["eider_connections"] == "counter"  # the parser strips _total
    assert types["eider_connections_open"] == "gauge"
    # Histogram buckets are cumulative and end at the count.
    count = value(after, "eider_store_seconds_count", operation="append")
    assert value(after, "eider_store_seconds_bucket", operation="append", le="+Inf") == count
    assert value(after, "eider_store_seconds_bucket", operation="append", le="0.001") <= value(
        after, "eider_store_seconds_bucket", operation="append", le="10.0"
    )


def test_behind_access_control(start_eider):
    server = start_eider(
        extra_args=[
            "--set", "api.accessControl.enabled=true",
            "--set", f'api.accessControl.secret="{SECRET}"',
        ]
    )
    status, body = server.api("GET", "/metrics")
    assert status == 403 or status == 401, (status, body)
    samples, _ = scrape(server, token=SECRET)
    assert any(name == "eider_api_requests_total" for name, _ in samples)


def test_queue_depth_gauge(eider):
    """A submission held by a future sendTime shows in `eider_queue_entries{kind="smtp"}`
    (sampled every 5 s); cancelling it empties the gauge again."""
    import time

    uid = eider.create_user("queuegauge", address="queuegauge@example.com")
    status, body = eider.api("POST", f"/users/{uid}/submit", {
        "to": [{"address": "someone@example.org"}], "subject": "held", "text": "later",
        "sendTime": "2099-01-01T00:00:00Z",
    })
    assert status == 200, body
    queue_id = body["message"]["queueId"]

    def depth():
        samples, types = scrape(eider)
        assert types["eider_queue_entries"] == "gauge"
        return value(samples, "eider_queue_entries", kind="smtp")

    deadline = time.time() + 20
    while depth() < 1 and time.time() < deadline:
        time.sleep(0.5)
    assert depth() == 1
    status, body = eider.api("DELETE", f"/users/{uid}/outbound/{queue_id}")
    assert status == 200 and body["deleted"] >= 1, body
    deadline = time.time() + 20
    while depth() > 0 and time.time() < deadline:
        time.sleep(0.5)
    assert depth() == 0
