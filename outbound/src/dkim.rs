//! DKIM signing of outgoing mail (RFC 6376 relaxed/relaxed; `rsa-sha256` and RFC 8463
//! `ed25519-sha256`) with the keys from `/dkim`.
//!
//! Written here rather than with the `mail-auth` crate: its current release needs
//! mail-parser 1.x (the tree pins 0.11) and a second RSA stack (rsa 0.9,
//! ed25519-dalek, ml-dsa) or aws-lc, while relaxed canonicalization is a few dozen
//! lines and the signatures come from ring/rsa already built (eider-auth).

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use eider_service::{DkimAlgorithm, DkimSigningKey, Service};
use tracing::{debug, warn};

use crate::worker::MessageSigner;

/// Header fields signed when present (RFC 6376 5.4.1's list, minus the trace and
/// resent ones that relays add or change). Each occurrence is signed.
const SIGNED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// Signs each message with the key of its header From's domain (the longest
/// matching `/dkim` domain, else the `*` key), as the service looks it up.
///
/// Signing happens at delivery, once per attempt, not at enqueue: the queue keeps the
/// bytes as submitted (a retry never stacks signatures), a rotated or deleted key
/// takes effect for mail still queued, and `t=` is the time the message leaves.
pub struct DkimSigner {
    service: Service,
}

impl DkimSigner {
    pub fn new(service: Service) -> Self {
        Self { service }
    }
}

#[async_trait]
impl MessageSigner for DkimSigner {
    async fn sign(&self, _envelope_from: Option<&str>, raw: &[u8]) -> Option<Vec<u8>> {
        let message = normalize_crlf(raw);
        let (fields, _) = split_message(&message);
        let from = fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("from"))
            .map(|f| f.value(&message))?;
        let address = eider_message::parse_addresses(from).into_iter().next()?;
        let domain = address.address.rsplit_once('@')?.1.trim().to_lowercase();
        let key = match self.service.dkim_key_for_domain(&domain).await {
            Ok(Some(key)) => key,
            Ok(None) => {
                debug!(%domain, "no DKIM key: sending unsigned");
                return None;
            }
            Err(e) => {
                warn!(%domain, "DKIM key lookup failed, sending unsigned: {e}");
                return None;
            }
        };
        match sign_message(&key, &message, chrono::Utc::now().timestamp()) {
            Ok(signed) => Some(signed),
            Err(e) => {
                warn!(%domain, selector = %key.selector, "DKIM signing failed, sending unsigned: {e}");
                None
            }
        }
    }
}

/// One header field: its name, where its colon is and where it ends (continuation
/// lines included, the final CRLF not).
struct Field<'a> {
    name: &'a str,
    end: usize,
    colon: usize,
}

impl Field<'_> {
    fn value<'m>(&self, message: &'m [u8]) -> &'m [u8] {
        &message[self.colon + 1..self.end]
    }
}

/// Line ends as CRLF everywhere (what goes on the wire and what DKIM hashes).
fn normalize_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The header fields and the offset where the body starts (after the blank line).
fn split_message(message: &[u8]) -> (Vec<Field<'_>>, usize) {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < message.len() {
        let line_end = find_crlf(message, pos).unwrap_or(message.len());
        if line_end == pos {
            // The blank line.
            return (fields, (pos + 2).min(message.len()));
        }
        let first = message[pos];
        if first == b' ' || first == b'\t' {
            if let Some(last) = fields.last_mut() {
                last.end = line_end;
            }
        } else if let Some(colon) = message[pos..line_end].iter().position(|&b| b == b':') {
            let name = std::str::from_utf8(&message[pos..pos + colon])
                .unwrap_or("")
                .trim_end();
            fields.push(Field {
                name,
                end: line_end,
                colon: pos + colon,
            });
        }
        pos = line_end + 2;
    }
    (fields, message.len())
}

fn find_crlf(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

/// Relaxed header canonicalization (RFC 6376 3.4.2), without the trailing CRLF.
fn relaxed_header(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = name.trim().to_ascii_lowercase().into_bytes();
    out.push(b':');
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => pending_space = started,
            _ => {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                started = true;
                out.push(b);
            }
        }
    }
    out
}

/// Relaxed body canonicalization (RFC 6376 3.4.4).
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut empty_run = 0usize;
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if lines.peek().is_none() && line.is_empty() {
            // What follows the last CRLF: nothing.
            break;
        }
        let mut canon = Vec::with_capacity(line.len());
        let mut pending_space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                pending_space = true;
            } else {
                if pending_space {
                    canon.push(b' ');
                    pending_space = false;
                }
                canon.push(b);
            }
        }
        if canon.is_empty() {
            empty_run += 1;
            continue;
        }
        for _ in 0..empty_run {
            out.extend_from_slice(b"\r\n");
        }
        empty_run = 0;
        out.extend_from_slice(&canon);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The message with a DKIM-Signature field prepended. `message` has CRLF line ends.
fn sign_message(
    key: &DkimSigningKey,
    message: &[u8],
    now: i64,
) -> Result<Vec<u8>, eider_auth::DkimKeyError> {
    let (fields, body_start) = split_message(message);
    let body_hash =
        ring::digest::digest(&ring::digest::SHA256, &relaxed_body(&message[body_start..]));

    // Each listed name once per occurrence; a verifier takes them bottom-up.
    let mut names = Vec::new();
    let mut header_data = Vec::new();
    for wanted in SIGNED_HEADERS {
        for field in fields
            .iter()
            .rev()
            .filter(|f| f.name.eq_ignore_ascii_case(wanted))
        {
            names.push(*wanted);
            header_data.extend_from_slice(&relaxed_header(field.name, field.value(message)));
            header_data.extend_from_slice(b"\r\n");
        }
    }
    let algorithm = match key.algorithm {
        DkimAlgorithm::Rsa => "rsa-sha256",
        DkimAlgorithm::Ed25519 => "ed25519-sha256",
    };
    let domain = idna::domain_to_ascii(&key.domain).unwrap_or_else(|_| key.domain.clone());
    let unsigned = format!(
        "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d={domain};\r\n\ts={}; t={now};\r\n\th={};\r\n\tbh={}; b=",
        key.selector,
        names.join(":"),
        STANDARD.encode(body_hash.as_ref()),
    );
    let (name, value) = unsigned.split_once(':').unwrap_or(("DKIM-Signature", ""));
    header_data.extend_from_slice(&relaxed_header(name, value.as_bytes()));
    let signature = eider_auth::dkim_sign(key.algorithm, &key.private_key_pem, &header_data)?;

    let b = STANDARD.encode(signature);
    let mut out = Vec::with_capacity(message.len() + unsigned.len() + b.len() + 16);
    out.extend_from_slice(unsigned.as_bytes());
    // Folded so no line passes 78 characters; whitespace in b= is ignored.
    for (i, chunk) in b.as_bytes().chunks(70).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n\t");
        }
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(message);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_header_unfolds_and_collapses() {
        assert_eq!(
            relaxed_header("SubJect ", b" \t A  b\r\n\t c \t"),
            b"subject:A b c".to_vec()
        );
    }

    #[test]
    fn relaxed_body_rules() {
        // RFC 6376 3.4.6's example body.
        assert_eq!(
            relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n"),
            b" C\r\nD E\r\n".to_vec()
        );
        assert_eq!(relaxed_body(b""), b"".to_vec());
        assert_eq!(relaxed_body(b"\r\n\r\n"), b"".to_vec());
        assert_eq!(relaxed_body(b"x"), b"x\r\n".to_vec());
        assert_eq!(relaxed_body(b"a\r\n\r\nb\r\n"), b"a\r\n\r\nb\r\n".to_vec());
    }

    #[test]
    fn split_finds_fields_and_body() {
        let m = b"From: a@b.c\r\nSubject: x\r\n y\r\n\r\nbody\r\n";
        let (fields, body) = split_message(m);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].value(m), b" x\r\n y");
        assert_eq!(&m[body..], b"body\r\n");
    }

    #[test]
    fn lf_only_is_normalized() {
        assert_eq!(normalize_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n".to_vec());
    }

    /// The signature verifies with the published key and stops verifying when the
    /// body changes (ed25519: ring verifies; the e2e test runs dkimpy on both kinds).
    #[test]
    fn ed25519_signature_verifies() {
        let material = eider_auth::generate_dkim_key(DkimAlgorithm::Ed25519).expect("generate key");
        let key = DkimSigningKey {
            domain: "example.com".into(),
            selector: "s1".into(),
            algorithm: DkimAlgorithm::Ed25519,
            private_key_pem: material.private_key_pem.clone(),
        };
        let message =
            b"From: A <a@example.com>\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello\r\n";
        let signed = sign_message(&key, message, 1_700_000_000).expect("signs");
        let text = String::from_utf8(signed.clone()).expect("utf8");
        assert!(text.starts_with(
            "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;"
        ));
        assert!(text.contains("h=from:subject:to;"));
        assert!(text.ends_with("\r\n\r\nHello\r\n"));

        // Recompute the signed data as a verifier does and check b=.
        let (fields, _) = split_message(&signed);
        let sig_field = &fields[0];
        let sig_value = std::str::from_utf8(sig_field.value(&signed)).expect("utf8");
        let b_at = sig_value.rfind(" b=").map(|i| i + 3).expect("b= tag");
        let b: String = sig_value[b_at..]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let sig = STANDARD.decode(b).expect("base64");
        let mut data = Vec::new();
        for name in ["from", "subject", "to"] {
            let f = fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .expect("field");
            data.extend_from_slice(&relaxed_header(f.name, f.value(&signed)));
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(&relaxed_header(
            "DKIM-Signature",
            &sig_value.as_bytes()[..b_at],
        ));
        let digest = ring::digest::digest(&ring::digest::SHA256, &data);
        let public = STANDARD.decode(&material.dns_public_key).expect("p=");
        let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public);
        verifier
            .verify(digest.as_ref(), &sig)
            .expect("signature verifies");

        let mut tampered = data.clone();
        tampered[0] = b'F';
        let digest = ring::digest::digest(&ring::digest::SHA256, &tampered);
        assert!(verifier.verify(digest.as_ref(), &sig).is_err());
    }
}
