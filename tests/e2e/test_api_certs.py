"""TLS certificates by SNI (POST/GET/DELETE /certs, /certs/resolve): stored
certificates are served by every TLS listener to new connections, chosen by the
name the client asks for (exact, SAN, wildcard), else the `[tls]` certificate;
checked with `openssl s_client -servername` against the running server."""

import datetime
import re
import sqlite3
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_cert(cn, sans, kind="rsa"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )


def served_cn(server, listener, servername, starttls):
    """The CN of the certificate `openssl s_client` gets for `servername`."""
    host, port = server.hostport(listener)
    args = ["openssl", "s_client", "-connect", f"{host}:{port}", "-starttls", starttls]
    if servername:
        args += ["-servername", servername]
    out = subprocess.run(args, input=b"", capture_output=True, timeout=30).stdout.decode("utf-8", "replace")
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert pem, out
    cert = x509.load_pem_x509_certificate(pem.group(0).encode())
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def wait_cn(server, listener, servername, starttls, expected, timeout=15):
    """The index reloads just after the API answers: wait for it to take `expected`
    (a correctness wait, not a speed assertion)."""
    deadline = time.time() + timeout
    while True:
        cn = served_cn(server, listener, servername, starttls)
        if cn == expected or time.time() > deadline:
            return cn
        time.sleep(0.1)


@pytest.fixture
def server(start_eider):
    return start_eider(extra_args=["--set", 'totp.secret="cert secret"'])


def post(server, servername, cert, key, **extra):
    return server.api("POST", "/certs", {"servername": servername, "cert": cert, "privateKey": key, **extra})


def test_sni_selects_stored_certificates_on_every_listener(server):
    a_cert, a_key = make_cert("a.example.test", ["a.example.test"])
    b_cert, b_key = make_cert("b.example.test", ["b.example.test"], kind="ec")
    w_cert, w_key = make_cert("wild.example.test", ["*.wild.example.test"])
    for name, cert, key in [("a.example.test", a_cert, a_key), ("b.example.test", b_cert, b_key), ("wild.example.test", w_cert, w_key)]:
        status, body = post(server, name, cert, key)
        assert status == 200 and body["success"], body

    assert wait_cn(server, "IMAP", "a.example.test", "imap", "a.example.test") == "a.example.test"
    for listener, starttls in [("IMAP", "imap"), ("POP3", "pop3"), ("LMTP", "lmtp")]:
        assert served_cn(server, listener, "a.example.test", starttls) == "a.example.test", listener
        assert served_cn(server, listener, "b.example.test", starttls) == "b.example.test", listener
        assert served_cn(server, listener, "mail.wild.example.test", starttls) == "wild.example.test", listener
        # Unknown names and no SNI at all get the [tls] certificate (self-signed, localhost).
        assert served_cn(server, listener, "other.example.test", starttls) != "a.example.test"
    fallback = served_cn(server, "IMAP", None, "imap")
    assert fallback not in ("a.example.test", "b.example.test", "wild.example.test")


def test_replaced_and_deleted_certificates_apply_without_restart(server):
    first_cert, first_key = make_cert("first.example.test", ["swap.example.test"])
    status, first = post(server, "swap.example.test", first_cert, first_key)
    assert status == 200, first
    assert wait_cn(server, "IMAP", "swap.example.test", "imap", "first.example.test") == "first.example.test"
    second_cert, second_key = make_cert("second.example.test", ["swap.example.test"])
    status, second = post(server, "swap.example.test", second_cert, second_key, description="renewed")
    assert status == 200 and second["id"] == first["id"], second
    assert wait_cn(server, "IMAP", "swap.example.test", "imap", "second.example.test") == "second.example.test"
    assert server.api("DELETE", f"/certs/{first['id']}") == (200, {"success": True})
    fallback = served_cn(server, "IMAP", "none.example.test", "imap")
    assert wait_cn(server, "IMAP", "swap.example.test", "imap", fallback) == fallback


def test_records_listing_resolve_and_key_sealed(server):
    cert, key = make_cert("list.example.test", ["list.example.test", "*.list.example.test"])
    status, body = post(server, "List.Example.Test", cert, key, description="listed")
    assert status == 200, body
    assert body["servername"] == "list.example.test"
    assert body["altNames"] == ["list.example.test", "*.list.example.test"]
    assert body["acme"] is False and body["description"] == "listed"
    assert re.fullmatch(r"([0-9a-f]{2}:){31}[0-9a-f]{2}", body["fingerprint"])
    status, got = server.api("GET", f"/certs/{body['id']}")
    assert status == 200 and got["hasCert"] is True and got["expires"] == body["expires"]
    assert "privateKey" not in got and "cert" not in got
    assert server.api("GET", "/certs/resolve/list.example.test") == (200, {"success": True, "id": body["id"]})
    status, listing = server.api("GET", "/certs?query=list.example")
    assert status == 200 and listing["total"] == 1 and listing["results"][0]["id"] == body["id"]
    # imap.list.example.test: only the wildcard SAN matches, and only with altNames.
    assert server.api("GET", "/certs?query=imap.list.example.test")[1]["total"] == 0
    assert server.api("GET", "/certs?query=imap.list.example.test&altNames=true")[1]["total"] == 1
    db = sqlite3.connect(server.data_dir / "eider.sqlite3")
    (stored,) = db.execute("SELECT private_key FROM certs WHERE servername = 'list.example.test'").fetchone()
    db.close()
    assert stored.startswith("$eider-gcm$") and "PRIVATE KEY" not in stored


def test_errors(server):
    cert, key = make_cert("err.example.test", ["err.example.test"])
    _, other_key = make_cert("other.example.test", ["other.example.test"])
    for body in [
        {"servername": "err.example.test", "cert": cert, "privateKey": other_key},  # key of another cert
        {"servername": "err.example.test", "cert": "garbage", "privateKey": key},
        {"servername": "err.example.test", "cert": cert},
        {"servername": "not a host", "cert": cert, "privateKey": key},
        {"servername": "err.example.test", "acme": True},
    ]:
        status, answer = server.api("POST", "/certs", body)
        assert status == 400 and answer["code"] == "InputValidationError", (body.keys(), answer)
    status, answer = server.api("GET", "/certs/0123456789abcdef01234567")
    assert (status, answer["code"], answer["error"]) == (404, "CertNotFound", "Invalid or unknown cert")
    status, answer = server.api("DELETE", "/certs/0123456789abcdef01234567")
    assert (status, answer["code"]) == (404, "CertNotFound")
    status, answer = server.api("GET", "/certs/resolve/none.example.test")
    assert (status, answer["code"], answer["error"]) == (404, "CertNotFound", "This servername does not exist")
    assert server.api("GET", "/certs/xyz")[0] == 400
