"""DKIM keys through the API (POST/GET/DELETE /dkim, /dkim/resolve): generated and
imported keys, the DNS TXT record they answer, and proof with a standard verifier
(dkimpy) that the published record verifies mail signed with the stored key. For
generated keys the private key is read back from the database and unsealed with the
configured secret (as the outbound signer will), which also shows it is sealed at rest."""

import base64
import hashlib
import sqlite3

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET = "a dkim secret cat"
MESSAGE = (
    b"From: Sender <sender@example.com>\r\n"
    b"To: rcpt@example.net\r\n"
    b"Subject: signed by a stored key\r\n"
    b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <dkim-test@example.com>\r\n"
    b"\r\n"
    b"Hello, this body is covered by the signature.\r\n"
)


@pytest.fixture
def server(start_eider):
    return start_eider(extra_args=["--set", f'totp.secret="{SECRET}"'])


def dns_for(records):
    """A dnsfunc for dkimpy answering the given {name: value} TXT records."""

    def lookup(name, timeout=5):
        key = name.decode().rstrip(".") if isinstance(name, bytes) else name.rstrip(".")
        value = records.get(key)
        return value.encode() if value is not None else None

    return lookup


def sign_and_verify(record, private, domain, selector, algorithm=b"rsa-sha256"):
    sig = dkim.sign(MESSAGE, selector.encode(), domain.encode(), private, signature_algorithm=algorithm)
    return dkim.verify(sig + MESSAGE, dnsfunc=dns_for({record["name"]: record["value"]}))


def unseal(server, table_domain):
    db = sqlite3.connect(server.data_dir / "eider.sqlite3")
    (sealed,) = db.execute("SELECT private_key FROM dkim_keys WHERE domain = ?", (table_domain,)).fetchone()
    db.close()
    assert sealed.startswith("$eider-gcm$") and "PRIVATE KEY" not in sealed, "sealed at rest"
    raw = base64.b64decode(sealed[len("$eider-gcm$"):] + "=" * (-len(sealed) % 4))
    key = hashlib.sha256(b"eider secretbox v1\0" + SECRET.encode()).digest()
    return AESGCM(key).decrypt(raw[:12], raw[12:], f"dkim:{table_domain}".encode()).decode()


def test_generated_rsa_key_publishes_its_public_half(server):
    status, body = server.api("POST", "/dkim", {"domain": "Example.COM", "selector": "s2026", "description": "main"})
    assert status == 200 and body["success"], body
    assert body["domain"] == "example.com"
    assert body["selector"] == "s2026"
    assert body["description"] == "main"
    assert body["dnsTxt"]["name"] == "s2026._domainkey.example.com"
    assert body["dnsTxt"]["value"].startswith("v=DKIM1;t=s;p=MII")
    assert body["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(body["fingerprint"]) == 95
    pem = unseal(server, "example.com").encode()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert sign_and_verify(body["dnsTxt"], pem, "example.com", "s2026")
    # A record that is not this key's does not verify: the check can fail.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_p = base64.b64encode(
        other.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    assert not sign_and_verify({"name": body["dnsTxt"]["name"], "value": "v=DKIM1;t=s;p=" + other_p}, pem, "example.com", "s2026")

    # GET answers the same record; resolve finds the id by domain.
    status, got = server.api("GET", f"/dkim/{body['id']}")
    assert status == 200 and got["dnsTxt"] == body["dnsTxt"] and got["fingerprint"] == body["fingerprint"]
    assert "privateKey" not in got and "created" in got
    assert server.api("GET", "/dkim/resolve/EXAMPLE.com") == (200, {"success": True, "id": body["id"]})


def test_generated_ed25519_key(server):
    status, body = server.api(
        "POST", "/dkim", {"domain": "ed.example.org", "selector": "ed", "algorithm": "ed25519"}
    )
    assert status == 200, body
    assert body["dnsTxt"]["value"].startswith("v=DKIM1;k=ed25519;t=s;p=")
    p = body["dnsTxt"]["value"].split("p=")[1]
    assert len(base64.b64decode(p)) == 32, "RFC 8463: the raw public key"
    pem = unseal(server, "ed.example.org")
    der = serialization.load_pem_private_key(pem.encode(), None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    seed = base64.b64encode(der[16:48])  # dkimpy takes the base64 seed
    assert sign_and_verify(body["dnsTxt"], seed, "ed.example.org", "ed", b"ed25519-sha256")


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_imported_rsa_key(server, fmt):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    status, body = server.api("POST", "/dkim", {"domain": "import.example", "selector": "imp", "privateKey": pem.decode()})
    assert status == 200, body
    assert sign_and_verify(body["dnsTxt"], pem, "import.example", "imp")


def test_imported_raw_ed25519_seed(server):
    key = ed25519.Ed25519PrivateKey.generate()
    seed = base64.b64encode(
        key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    )
    assert len(seed) == 44
    status, body = server.api("POST", "/dkim", {"domain": "raw.example", "selector": "r", "privateKey": seed.decode()})
    assert status == 200, body
    assert sign_and_verify(body["dnsTxt"], seed, "raw.example", "r", b"ed25519-sha256")


def test_one_key_per_domain_listing_and_delete(server):
    _, first = server.api("POST", "/dkim", {"domain": "one.example", "selector": "a", "algorithm": "ed25519"})
    _, second = server.api("POST", "/dkim", {"domain": "one.example", "selector": "b", "algorithm": "ed25519"})
    assert second["id"] == first["id"], "a domain's key is replaced, its id kept"
    assert second["fingerprint"] != first["fingerprint"]
    server.api("POST", "/dkim", {"domain": "two.example", "selector": "a", "algorithm": "ed25519"})
    status, listing = server.api("GET", "/dkim?query=one")
    assert status == 200 and listing["total"] == 1
    assert listing["results"][0]["selector"] == "b"
    assert set(listing["results"][0]) >= {"id", "domain", "selector", "fingerprint", "created"}
    status, everything = server.api("GET", "/dkim?limit=1")
    assert everything["total"] == 2 and len(everything["results"]) == 1 and everything["nextCursor"]
    assert server.api("DELETE", f"/dkim/{first['id']}") == (200, {"success": True})
    status, body = server.api("GET", f"/dkim/{first['id']}")
    assert (status, body["code"], body["error"]) == (404, "DkimNotFound", "Invalid or unknown DKIM key")
    status, body = server.api("DELETE", f"/dkim/{first['id']}")
    assert (status, body["code"]) == (404, "DkimNotFound")
    status, body = server.api("GET", "/dkim/resolve/one.example")
    assert (status, body["code"], body["error"]) == (404, "DkimNotFound", "This domain does not exist")


@pytest.mark.parametrize(
    "body",
    [
        {"selector": "s"},
        {"domain": "x.example"},
        {"domain": "not a domain", "selector": "s"},
        {"domain": "x.example", "selector": "has space"},
        {"domain": "x.example", "selector": "s", "privateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
        {"domain": "x.example", "selector": "s", "privateKey": "!" * 44},
        {"domain": "x.example", "selector": "s", "algorithm": "dsa"},
        {"domain": "x.example", "selector": "s", "description": "d" * 256},
    ],
)
def test_invalid_input(server, body):
    status, answer = server.api("POST", "/dkim", body)
    assert status == 400 and answer["code"] == "InputValidationError", answer


def test_invalid_id(server):
    status, body = server.api("GET", "/dkim/nothex")
    assert status == 400 and body["code"] == "InputValidationError"
