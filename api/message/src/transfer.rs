//! Content-Transfer-Encoding decoding (RFC 2045), lenient as mail demands.
//!
//! Real mail carries base64 with stray whitespace, missing padding and junk,
//! and quoted-printable with bad escapes; readers want *something* rather than
//! an error, so nothing here fails.

use base64::Engine;

use crate::index::BodyPart;

/// Decode a part's body (`raw[body_start..body_end]`) according to the part's
/// Content-Transfer-Encoding. Identity encodings (7bit, 8bit, binary, unknown)
/// return the bytes unchanged.
pub fn decode_body(part: &BodyPart, body: &[u8]) -> Vec<u8> {
    decode_transfer(&part.encoding, body)
}

/// Decode `body` under a Content-Transfer-Encoding name (any case). The one decoder
/// of the project: the index, the API's attachment downloads and IMAP `BINARY[]`
/// all come here, so a part decodes to the same bytes through every route.
pub fn decode_transfer(encoding: &str, body: &[u8]) -> Vec<u8> {
    if encoding.eq_ignore_ascii_case("BASE64") {
        decode_base64(body)
    } else if encoding.eq_ignore_ascii_case("QUOTED-PRINTABLE") {
        decode_qp(body)
    } else {
        body.to_vec()
    }
}

/// Value of a base64 alphabet byte, or `INVALID`.
const INVALID: u8 = 0xff;

const fn base64_table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
}

static BASE64: [u8; 256] = base64_table();

/// The engine used for well-formed input: padding optional, trailing bits tolerated,
/// so that it decodes exactly what the lenient path would.
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Decode MIME base64 leniently: every byte outside the alphabet (line breaks,
/// spaces, `=` padding, junk) is skipped; a final group of 2 or 3 characters
/// yields 1 or 2 bytes, a lone trailing character is dropped.
///
/// Well-formed bodies (lines of whole quads, padding only at the very end) take a
/// fast path through the `base64` engine; anything else falls back to a
/// byte-at-a-time decoder with identical results.
pub(crate) fn decode_base64(body: &[u8]) -> Vec<u8> {
    if let Some(v) = decode_base64_lines(body) {
        return v;
    }
    decode_base64_slow(body)
}

/// Fast path: line by line through the engine. `None` when a line is not a
/// clean run of whole quads (or padding appears before the last line).
fn decode_base64_lines(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut rest = body;
    let mut saw_padding = false;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = next;
        if line.is_empty() {
            continue;
        }
        if saw_padding || line.len() % 4 != 0 {
            return None;
        }
        if line.ends_with(b"=") {
            saw_padding = true;
        }
        let start = out.len();
        out.resize(start + line.len() / 4 * 3, 0);
        let n = LENIENT.decode_slice(line, &mut out[start..]).ok()?;
        out.truncate(start + n);
    }
    Some(out)
}

fn decode_base64_slow(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0;
    for &b in body {
        let v = BASE64[b as usize];
        if v == INVALID {
            continue;
        }
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Length [`decode_base64`] would return, without decoding.
pub(crate) fn base64_decoded_len(body: &[u8]) -> u64 {
    let chars = body
        .iter()
        .filter(|&&b| BASE64[b as usize] != INVALID)
        .count() as u64;
    chars / 4 * 3
        + match chars % 4 {
            2 => 1,
            3 => 2,
            _ => 0,
        }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode quoted-printable leniently: `=XX` becomes the byte, `=` at a line end is
/// a soft break, any other `=` is kept literally; whitespace before a line end is
/// dropped (RFC 2045 6.7 rule 3); line endings are kept as written.
pub(crate) fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        match b {
            b'=' => {
                let a = body.get(i + 1).copied();
                let c = body.get(i + 2).copied();
                if let (Some(h), Some(l)) = (a.and_then(hex_val), c.and_then(hex_val)) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                // Soft line break: "=" [WSP...] CRLF / LF, or "=" at the very end.
                let mut j = i + 1;
                while j < body.len() && (body[j] == b' ' || body[j] == b'\t') {
                    j += 1;
                }
                if j == body.len() {
                    i = j;
                    continue;
                }
                if body[j] == b'\n' {
                    i = j + 1;
                    continue;
                }
                if body[j] == b'\r' && body.get(j + 1) == Some(&b'\n') {
                    i = j + 2;
                    continue;
                }
                out.push(b'=');
                i += 1;
            }
            b' ' | b'\t' => {
                // Drop trailing whitespace of a line (transport padding).
                let mut j = i;
                while j < body.len() && (body[j] == b' ' || body[j] == b'\t') {
                    j += 1;
                }
                let at_eol = j == body.len()
                    || body[j] == b'\n'
                    || (body[j] == b'\r' && body.get(j + 1) == Some(&b'\n'));
                if !at_eol {
                    out.extend_from_slice(&body[i..j]);
                }
                i = j;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Decoded size of a body under `encoding` (upper-case CTE), computed cheaply.
pub(crate) fn decoded_len(encoding: &str, body: &[u8]) -> u64 {
    match encoding {
        "BASE64" => base64_decoded_len(body),
        "QUOTED-PRINTABLE" => decode_qp(body).len() as u64,
        _ => body.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_leniently_whatever_the_case_of_the_encoding() {
        assert_eq!(decode_transfer("BASE64", b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(decode_transfer("base64", b"aGVsbG8"), b"hello");
        assert_eq!(decode_transfer("BASE64", b"YQ"), b"a");
        assert_eq!(decode_transfer("BASE64", b"!!"), b"");
        assert_eq!(
            decode_transfer("QUOTED-PRINTABLE", b"caf=C3=A9=\r\n!=zz"),
            "caf\u{e9}!=zz".as_bytes()
        );
        assert_eq!(
            decode_transfer("quoted-printable", b"a=3Db=\r\nc= \r\nd=ZZ"),
            b"a=bcd=ZZ"
        );
        // Transport padding before a line end goes; line ends stay as written.
        assert_eq!(
            decode_transfer("QUOTED-PRINTABLE", b"hello  \r\nfoo\t \nx=\ny"),
            b"hello\r\nfoo\nxy"
        );
        assert_eq!(decode_transfer("7BIT", b"plain  \r\n"), b"plain  \r\n");
    }

    #[test]
    fn base64_fast_and_slow_agree() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let enc = base64::engine::general_purpose::STANDARD.encode(&data);
        let wrapped: Vec<u8> = enc
            .as_bytes()
            .chunks(76)
            .flat_map(|c| c.iter().copied().chain(*b"\r\n"))
            .collect();
        assert_eq!(decode_base64(&wrapped), data);
        assert_eq!(decode_base64_slow(&wrapped), data);
        assert_eq!(base64_decoded_len(&wrapped), 1000);
        // Junk forces the slow path, with the same tolerant result.
        let mut junk = wrapped.clone();
        junk.splice(10..10, b" !\t".iter().copied());
        assert_eq!(decode_base64(&junk), data);
    }

    #[test]
    fn base64_missing_padding() {
        assert_eq!(decode_base64(b"YWI"), b"ab");
        assert_eq!(decode_base64(b"YQ"), b"a");
        assert_eq!(decode_base64(b"YQ=="), b"a");
        assert_eq!(base64_decoded_len(b"YQ=="), 1);
        assert_eq!(decode_base64(b"Y"), b"");
    }

    #[test]
    fn qp_rules() {
        assert_eq!(decode_qp(b"a=3Db=\r\nc"), b"a=bc");
        assert_eq!(decode_qp(b"caf=C3=A9  \r\nx"), "café\r\nx".as_bytes());
        assert_eq!(decode_qp(b"bad=zz="), b"bad=zz");
        assert_eq!(decode_qp(b"soft= \nnext"), b"softnext");
        assert_eq!(decode_qp(b"a b"), b"a b");
    }
}
