//! MIME part headers (RFC 2045/2183/2231/3282/2557): Content-Type with its
//! parameters, Content-Disposition, Content-Transfer-Encoding and friends.
//!
//! Parameters keep their written form, as Dovecot answers them in BODYSTRUCTURE:
//! names lower-cased, values unquoted; RFC 2231 continuations are merged and an
//! extended value stays encoded under `name*` (`charset'lang'%XX..`), so the
//! response stays 7-bit and clients decode it as they already do.

use super::decode::{charset_decode, decode_words};
use super::fields::{first, lossy, unfold, RawField};

/// What a part's header says about its content, with RFC defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct PartHeader {
    pub media_type: String,
    pub media_subtype: String,
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: String,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Option<Vec<String>>,
    pub location: Option<String>,
    /// The multipart boundary, raw bytes, when this is a multipart with a usable one.
    pub boundary: Option<Vec<u8>>,
}

/// Interpret the MIME fields of one part's header. `in_digest` selects the
/// default Content-Type of multipart/digest children (message/rfc822).
pub(crate) fn part_header(fields: &[RawField<'_>], in_digest: bool) -> PartHeader {
    let ct = first(fields, "Content-Type").map(|f| unfold(f.value));
    let (main, raw_params) = match &ct {
        Some(v) => parse_type_value(v, true),
        None => (None, Vec::new()),
    };
    let boundary = raw_params
        .iter()
        .find(|(n, _)| n == "boundary")
        .map(|(_, v)| v.clone())
        .filter(|b| !b.is_empty());
    let mut params = merge_rfc2231(raw_params);

    let (media_type, media_subtype) = match main {
        Some((t, Some(s))) => (t, s),
        Some((t, None)) if t == "text" => (t, "plain".to_string()),
        Some((_, None)) => ("application".to_string(), "octet-stream".to_string()),
        None if in_digest => ("message".to_string(), "rfc822".to_string()),
        None => ("text".to_string(), "plain".to_string()),
    };
    if media_type == "text" && !params.iter().any(|(n, _)| n == "charset") {
        params.push(("charset".to_string(), "us-ascii".to_string()));
    }
    let boundary = if media_type == "multipart" {
        boundary
    } else {
        None
    };

    let disposition = first(fields, "Content-Disposition").and_then(|f| {
        let v = unfold(f.value);
        let (main, raw) = parse_type_value(&v, false);
        main.map(|(t, _)| (t, merge_rfc2231(raw)))
    });

    let encoding = first(fields, "Content-Transfer-Encoding")
        .map(|f| {
            let v = unfold(f.value);
            let mut i = 0;
            skip_cfws(&v, &mut i);
            let tok = read_token(&v, &mut i);
            if tok.is_empty() {
                "7BIT".to_string()
            } else {
                lossy(tok).to_ascii_uppercase()
            }
        })
        .unwrap_or_else(|| "7BIT".to_string());

    let text_of = |name: &str| first(fields, name).map(|f| lossy(&unfold(f.value)));
    let language = first(fields, "Content-Language").and_then(|f| {
        let v = unfold(f.value);
        let langs: Vec<String> = strip_comments(&v)
            .split(|b| matches!(b, b',' | b' ' | b'\t'))
            .filter(|s| !s.is_empty())
            .map(lossy)
            .collect();
        (!langs.is_empty()).then_some(langs)
    });

    PartHeader {
        media_type,
        media_subtype,
        params,
        id: text_of("Content-ID"),
        description: text_of("Content-Description"),
        encoding,
        md5: text_of("Content-MD5"),
        disposition,
        language,
        location: text_of("Content-Location"),
        boundary,
    }
}

fn is_tspecial(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

fn is_token_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f && !is_tspecial(b)
}

/// Skip whitespace and (nested) comments.
fn skip_cfws(v: &[u8], i: &mut usize) {
    while *i < v.len() {
        match v[*i] {
            b' ' | b'\t' | b'\r' | b'\n' => *i += 1,
            b'(' => {
                let mut depth = 0usize;
                while *i < v.len() {
                    match v[*i] {
                        b'\\' => *i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                *i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    *i += 1;
                }
            }
            _ => break,
        }
    }
}

fn strip_comments(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'(' {
            skip_cfws(v, &mut i);
            out.push(b' ');
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

fn read_token<'a>(v: &'a [u8], i: &mut usize) -> &'a [u8] {
    let start = *i;
    while *i < v.len() && is_token_byte(v[*i]) {
        *i += 1;
    }
    &v[start..*i]
}

/// A lower-cased main value: type and optional subtype.
type MainValue = Option<(String, Option<String>)>;
/// Parameters as parsed: lower-cased name, unquoted raw value.
type RawParams = Vec<(String, Vec<u8>)>;
/// RFC 2231 segments of one parameter: (index, extended, value).
type Segments = Vec<(u32, bool, Vec<u8>)>;

/// Parse `type[/subtype] *(; name=value)` (or a disposition's `type *(; ...)`).
/// Returns the lower-cased main value and the raw parameters (names lower-cased,
/// values unquoted bytes). A missing main token yields `None`.
fn parse_type_value(v: &[u8], with_subtype: bool) -> (MainValue, RawParams) {
    let mut i = 0;
    skip_cfws(v, &mut i);
    let t = read_token(v, &mut i);
    let main_type = (!t.is_empty()).then(|| lossy(t).to_ascii_lowercase());
    let mut subtype = None;
    if with_subtype {
        skip_cfws(v, &mut i);
        if v.get(i) == Some(&b'/') {
            i += 1;
            skip_cfws(v, &mut i);
            let s = read_token(v, &mut i);
            if !s.is_empty() {
                subtype = Some(lossy(s).to_ascii_lowercase());
            }
        }
    }
    let params = parse_params(v, i);
    (main_type.map(|t| (t, subtype)), params)
}

/// Parameters from `i` on. Junk between parameters is skipped up to the next `;`;
/// unquoted values run to `;` or whitespace (so common unquoted boundaries
/// containing `=` survive).
fn parse_params(v: &[u8], mut i: usize) -> RawParams {
    let mut out = Vec::new();
    loop {
        // Find the next ';'.
        while i < v.len() && v[i] != b';' {
            if v[i] == b'"' {
                skip_quoted(v, &mut i);
            } else {
                i += 1;
            }
        }
        if i >= v.len() {
            break;
        }
        i += 1;
        skip_cfws(v, &mut i);
        let name = read_token(v, &mut i);
        if name.is_empty() {
            continue;
        }
        let name = lossy(name).to_ascii_lowercase();
        skip_cfws(v, &mut i);
        if v.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        skip_cfws(v, &mut i);
        let value = if v.get(i) == Some(&b'"') {
            read_quoted(v, &mut i)
        } else {
            let start = i;
            while i < v.len() && !matches!(v[i], b';' | b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            v[start..i].to_vec()
        };
        out.push((name, value));
    }
    out
}

fn skip_quoted(v: &[u8], i: &mut usize) {
    let _ = read_quoted(v, i);
}

/// Read a quoted-string starting at `v[*i] == '"'`, unescaping quoted-pairs.
/// An unterminated string runs to the end.
fn read_quoted(v: &[u8], i: &mut usize) -> Vec<u8> {
    let mut out = Vec::new();
    *i += 1;
    while *i < v.len() {
        match v[*i] {
            b'\\' if *i + 1 < v.len() => {
                out.push(v[*i + 1]);
                *i += 2;
            }
            b'"' => {
                *i += 1;
                return out;
            }
            b => {
                out.push(b);
                *i += 1;
            }
        }
    }
    out
}

/// attribute-char of RFC 2231: what may stay unescaped in an extended value.
fn is_attribute_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

fn pct_encode(v: &[u8], out: &mut String) {
    for &b in v {
        if is_attribute_char(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Merge RFC 2231 continuations (`name*0`, `name*1*`, ...) into one parameter:
/// `name` when no segment is extended, else `name*` with the extended value
/// (plain segments percent-encoded, `''` prefixed when the first segment was plain).
fn merge_rfc2231(raw: RawParams) -> Vec<(String, String)> {
    enum Slot {
        Done(String, String),
        Group(String),
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(raw.len());
    let mut groups: Vec<(String, Segments)> = Vec::new();
    for (name, value) in raw {
        let split = name.find('*').and_then(|star| {
            let (base, rest) = (&name[..star], &name[star + 1..]);
            if rest.is_empty() {
                return None;
            }
            let (digits, ext) = match rest.strip_suffix('*') {
                Some(d) => (d, true),
                None => (rest, false),
            };
            let idx = digits.parse::<u32>().ok()?;
            Some((base.to_string(), idx, ext))
        });
        match split {
            Some((base, idx, ext)) => match groups.iter_mut().find(|(b, _)| *b == base) {
                Some((_, segs)) => segs.push((idx, ext, value)),
                None => {
                    slots.push(Slot::Group(base.clone()));
                    groups.push((base, vec![(idx, ext, value)]));
                }
            },
            None => slots.push(Slot::Done(name, lossy(&value))),
        }
    }
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Done(n, v) => (n, v),
            Slot::Group(base) => {
                let segs = groups
                    .iter_mut()
                    .find(|(b, _)| *b == base)
                    .map(|(_, s)| std::mem::take(s))
                    .unwrap_or_default();
                let mut segs = segs;
                segs.sort_by_key(|s| s.0);
                if segs.iter().any(|s| s.1) {
                    let mut v = String::new();
                    if !segs.first().is_some_and(|s| s.1) {
                        v.push_str("''");
                    }
                    for (_, ext, val) in &segs {
                        if *ext {
                            v.push_str(&lossy(val));
                        } else {
                            pct_encode(val, &mut v);
                        }
                    }
                    (format!("{base}*"), v)
                } else {
                    let v: Vec<u8> = segs.into_iter().flat_map(|s| s.2).collect();
                    (base, lossy(&v))
                }
            }
        })
        .collect()
}

fn pct_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            let h = v.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let l = v.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// The decoded value of parameter `name` for display: an RFC 2231 `name*` value
/// (charset'lang'%XX) wins, else the plain value with RFC 2047 words decoded.
pub(crate) fn param_decoded(params: &[(String, String)], name: &str) -> Option<String> {
    let ext = format!("{name}*");
    if let Some((_, v)) = params.iter().find(|(n, _)| *n == ext) {
        let b = v.as_bytes();
        let mut parts = b.splitn(3, |&c| c == b'\'');
        let (charset, _lang, data) = match (parts.next(), parts.next(), parts.next()) {
            (Some(c), Some(l), Some(d)) => (c, l, d),
            _ => (&b""[..], &b""[..], b),
        };
        let bytes = pct_decode(data);
        return Some(charset_decode(&lossy(charset), &bytes));
    }
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| decode_words(v.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::super::fields::split_fields;
    use super::*;

    fn hdr(s: &str) -> PartHeader {
        part_header(&split_fields(s.as_bytes()), false)
    }

    #[test]
    fn defaults() {
        let h = hdr("Subject: x\r\n\r\n");
        assert_eq!(
            (h.media_type.as_str(), h.media_subtype.as_str()),
            ("text", "plain")
        );
        assert_eq!(h.params, vec![("charset".into(), "us-ascii".into())]);
        assert_eq!(h.encoding, "7BIT");
        let d = part_header(&split_fields(b"X: y\r\n\r\n"), true);
        assert_eq!(
            (d.media_type.as_str(), d.media_subtype.as_str()),
            ("message", "rfc822")
        );
        assert!(d.params.is_empty());
    }

    #[test]
    fn params_and_boundary() {
        let h = hdr("Content-Type: Multipart/Mixed; Boundary=----=_Part_1_2.3 (c);\r\n  foo=\"a \\\"b\\\"\"\r\n\r\n");
        assert_eq!(h.media_type, "multipart");
        assert_eq!(h.media_subtype, "mixed");
        assert_eq!(h.boundary.as_deref(), Some(&b"----=_Part_1_2.3"[..]));
        assert_eq!(
            h.params,
            vec![
                ("boundary".into(), "----=_Part_1_2.3".into()),
                ("foo".into(), "a \"b\"".into())
            ]
        );
    }

    #[test]
    fn rfc2231() {
        let h = hdr("Content-Type: application/pdf;\r\n name*0*=utf-8''%E2%82%AC;\r\n name*1=\" rate.pdf\"\r\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rate.pdf\r\n\r\n");
        assert_eq!(
            h.params,
            vec![("name*".into(), "utf-8''%E2%82%AC%20rate.pdf".into())]
        );
        assert_eq!(
            param_decoded(&h.params, "name").as_deref(),
            Some("€ rate.pdf")
        );
        let (t, p) = h.disposition.clone().unwrap_or_default();
        assert_eq!(t, "attachment");
        assert_eq!(param_decoded(&p, "filename").as_deref(), Some("€ rate.pdf"));
        let plain = hdr("Content-Type: text/plain; name*0=\"a\"; name*1=\"b.txt\"\r\n\r\n");
        assert_eq!(plain.params[0], ("name".into(), "ab.txt".into()));
    }

    #[test]
    fn encoding_and_language() {
        let h = hdr("Content-Transfer-Encoding: Base64\r\nContent-Language: en, fi (x) se\r\n\r\n");
        assert_eq!(h.encoding, "BASE64");
        assert_eq!(
            h.language,
            Some(vec!["en".into(), "fi".into(), "se".into()])
        );
        let bad = hdr("Content-Transfer-Encoding: ?invalid\r\n\r\n");
        assert_eq!(bad.encoding, "7BIT");
    }
}
