//! Content-Transfer-Encoding decoding for attachment downloads of parts kept
//! inline (small bodies, or bodies whose re-encoding could not be verified).
//! Lenient, as mail demands: junk is skipped, nothing fails.

/// Decode `body` under a Content-Transfer-Encoding (upper-case, as indexed).
pub(crate) fn decode_transfer(encoding: &str, body: &[u8]) -> Vec<u8> {
    match encoding {
        "BASE64" => base64(body),
        "QUOTED-PRINTABLE" => quoted_printable(body),
        _ => body.to_vec(),
    }
}

fn base64_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0;
    for v in body.iter().filter_map(|&b| base64_value(b)) {
        acc = (acc << 6) | v;
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

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = body.get(i + 1).copied().and_then(hex_value);
        let lo = body.get(i + 2).copied().and_then(hex_value);
        if let (Some(h), Some(l)) = (hi, lo) {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        // Soft line break: "=" [spaces] CRLF / LF.
        let mut j = i + 1;
        while j < body.len() && (body[j] == b' ' || body[j] == b'\t') {
            j += 1;
        }
        if j >= body.len() {
            i = j;
        } else if body[j] == b'\n' {
            i = j + 1;
        } else if body[j] == b'\r' && body.get(j + 1) == Some(&b'\n') {
            i = j + 2;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_leniently() {
        assert_eq!(decode_transfer("BASE64", b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(decode_transfer("BASE64", b"YQ"), b"a");
        assert_eq!(
            decode_transfer("QUOTED-PRINTABLE", b"caf=C3=A9=\r\n!=zz"),
            "caf\u{e9}!=zz".as_bytes()
        );
        assert_eq!(decode_transfer("7BIT", b"plain"), b"plain");
    }
}
