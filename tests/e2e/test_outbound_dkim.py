"""DKIM signing of outgoing mail through real sockets: keys made with POST /dkim
(RSA and Ed25519), a message submitted through the API to a remote recipient, an
aiosmtpd sink as the relay, and dkimpy verifying what arrives against the TXT
record the API publishes. A From domain without a key goes out unsigned; a body
changed after signing fails verification (the check can fail)."""

import dkim
import pytest

from lmtp_support import user, wait_for
from test_api_dkim import dns_for
from test_outbound_queue import Sink, queue_args, submit


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def make_key(server, domain, selector, algorithm):
    status, body = server.api("POST", "/dkim", {"domain": domain, "selector": selector, "algorithm": algorithm})
    assert status == 200 and body["success"], body
    return body["dnsTxt"]


def received(sink, subject):
    def find():
        for _, _, data in sink.received:
            if f"Subject: {subject}".encode() in data:
                return data
        return None

    data = wait_for(find, timeout=20)
    assert data, f"no message {subject!r} reached the relay"
    return data


@pytest.mark.parametrize("algorithm,tag", [("rsa", b"rsa-sha256"), ("ed25519", b"ed25519-sha256")])
def test_signed_with_the_from_domains_key(start_eider, sink, algorithm, tag):
    server = start_eider(extra_args=queue_args(sink.port))
    record = make_key(server, "example.com", "s1", algorithm)
    uid = user(server, "alice")
    submit(
        server, uid, ["bob@example.org"], subject=f"signed {algorithm}",
        cc=[{"address": "carol@example.net"}],
    )
    data = received(sink, f"signed {algorithm}")
    assert data.startswith(b"DKIM-Signature: v=1; a=" + tag + b"; c=relaxed/relaxed; d=example.com;"), data[:200]
    header = data.split(b"\r\n\r\n", 1)[0]
    signed = header.split(b"h=", 1)[1].split(b";", 1)[0].decode()
    for name in ("from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in signed.split(":"), (name, signed)
    dns = dns_for({record["name"]: record["value"]})
    assert dkim.verify(data, dnsfunc=dns), data[:600]

    # The same bytes with the body changed no longer verify.
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"queued body" in body
    tampered = head + b"\r\n\r\n" + body.replace(b"queued body", b"queued b0dy")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_subdomain_uses_the_parent_key(start_eider, sink):
    server = start_eider(extra_args=queue_args(sink.port))
    record = make_key(server, "example.com", "parent", "ed25519")
    uid = user(server, "sub", address="sub@mail.example.com")
    submit(server, uid, ["bob@example.org"], subject="from a subdomain")
    data = received(sink, "from a subdomain")
    assert b"d=example.com;" in data.split(b"\r\n\r\n", 1)[0]
    assert dkim.verify(data, dnsfunc=dns_for({record["name"]: record["value"]}))


def test_from_domain_without_a_key_goes_out_unsigned(start_eider, sink):
    server = start_eider(extra_args=queue_args(sink.port))
    make_key(server, "example.com", "s1", "ed25519")
    uid = user(server, "dave", address="dave@nokey.test")
    submit(server, uid, ["bob@example.org"], subject="no key")
    data = received(sink, "no key")
    assert b"DKIM-Signature" not in data, data[:300]


def test_wildcard_key_signs_as_the_senders_domain(start_eider, sink):
    server = start_eider(extra_args=queue_args(sink.port))
    record = make_key(server, "*", "any", "rsa")
    uid = user(server, "erin", address="erin@other.test")
    submit(server, uid, ["bob@example.org"], subject="wildcard")
    data = received(sink, "wildcard")
    assert b"d=other.test;" in data.split(b"\r\n\r\n", 1)[0]
    assert dkim.verify(data, dnsfunc=dns_for({"any._domainkey.other.test": record["value"]}))
