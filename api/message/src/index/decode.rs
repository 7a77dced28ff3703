//! Header and text decoding for display: RFC 2047 encoded words, charsets,
//! dates and message ids, delegated to mail-parser's field parsers.

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::HeaderValue;

use super::fields::lossy;

/// mail-parser's field parsers read up to the end of a header field, i.e. a line
/// feed not followed by whitespace; give them one.
fn terminated(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 1);
    v.extend_from_slice(value);
    v.push(b'\n');
    v
}

/// Decode an unstructured value: RFC 2047 words decoded, folding and runs of
/// whitespace collapsed to one space, trimmed.
pub(crate) fn decode_words(value: &[u8]) -> String {
    // Raw 8-bit bytes that are not UTF-8 would be replaced by U+FFFD downstream.
    let fixed;
    let value = if std::str::from_utf8(value).is_ok() {
        value
    } else {
        fixed = lossy(value);
        fixed.as_bytes()
    };
    let buf = terminated(value);
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => collapse(&t),
        _ => String::new(),
    }
}

/// Runs of whitespace (folding included) as one space, ends trimmed.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Decode text in `charset`. US-ASCII and UTF-8 (and unknown charsets) are read
/// as UTF-8 with stray 8-bit bytes as Windows-1252 ([`lossy`]): mail labelled
/// us-ascii is often UTF-8 or Latin-1.
pub(crate) fn charset_decode(charset: &str, bytes: &[u8]) -> String {
    let cs = charset.trim().to_ascii_lowercase();
    if matches!(cs.as_str(), "" | "us-ascii" | "ascii" | "utf-8" | "utf8") {
        return lossy(bytes);
    }
    match charset_decoder(cs.as_bytes()) {
        Some(decode) => decode(bytes),
        None => lossy(bytes),
    }
}

/// A Date header as unix seconds, when it parses to a valid date.
pub(crate) fn parse_date(value: &[u8]) -> Option<i64> {
    let buf = terminated(value);
    match MessageStream::new(&buf).parse_date() {
        HeaderValue::DateTime(dt) if dt.is_valid() => Some(dt.to_timestamp()),
        _ => None,
    }
}

/// The calendar day a Date header names as written, i.e. in the header's own zone, in
/// days since 1970-01-01: "Mon, 1 Jan 2024 23:30:00 -0500" is 1 January although the
/// instant is 2 January in UTC. RFC 3501's SENTBEFORE/SENTON/SENTSINCE compare this
/// day, "disregarding time and timezone".
pub(crate) fn parse_date_day(value: &[u8]) -> Option<i32> {
    let buf = terminated(value);
    match MessageStream::new(&buf).parse_date() {
        HeaderValue::DateTime(dt) if dt.is_valid() => {
            i32::try_from(dt.to_timestamp_local().div_euclid(86_400)).ok()
        }
        _ => None,
    }
}

impl crate::index::MessageIndex {
    /// The day of the Date header as written (see [`parse_date_day`]), when present
    /// and parseable. Read from the raw value kept for ENVELOPE.
    pub fn sent_day(&self) -> Option<i32> {
        self.envelope
            .date
            .as_deref()
            .and_then(|v| parse_date_day(v.as_bytes()))
    }
}

/// Message ids of a Message-ID / In-Reply-To / References value, without brackets.
pub(crate) fn parse_ids(value: &[u8]) -> Vec<String> {
    let buf = terminated(value);
    match MessageStream::new(&buf).parse_id() {
        HeaderValue::Text(t) => vec![t.into_owned()],
        HeaderValue::TextList(l) => l.into_iter().map(|t| t.into_owned()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            decode_words(b" =?utf-8?q?J=C3=B6rg?= and\r\n  =?ISO-8859-1?B?SvZyZw==?="),
            "Jörg and Jörg"
        );
        assert_eq!(decode_words(b"plain   text "), "plain text");
        assert_eq!(decode_words(b""), "");
    }

    #[test]
    fn dates_and_ids() {
        assert_eq!(
            parse_date(b" Sat, 24 Mar 2017 23:00:00 +0200"),
            Some(1490389200)
        );
        assert_eq!(parse_date(b" garbage"), None);
        // The day as written, whatever the zone does to the instant.
        let jan1 = 19_723; // 2024-01-01
        assert_eq!(
            parse_date_day(b" Mon, 1 Jan 2024 23:30:00 -0500"),
            Some(jan1)
        );
        assert_eq!(
            parse_date_day(b" Mon, 1 Jan 2024 00:30:00 +0900"),
            Some(jan1)
        );
        assert_eq!(parse_date_day(b"Mon, 1 Jan 2024 12:00:00 GMT"), Some(jan1));
        assert_eq!(parse_date_day(b" Thu, 1 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date_day(b" garbage"), None);
        assert_eq!(
            parse_ids(b" <a@b> <c@d>"),
            vec!["a@b".to_string(), "c@d".to_string()]
        );
        assert_eq!(parse_ids(b" <x@y>"), vec!["x@y".to_string()]);
    }

    #[test]
    fn charsets() {
        assert_eq!(charset_decode("ISO-8859-1", &[0x4a, 0xf6]), "Jö");
        assert_eq!(charset_decode("us-ascii", "é".as_bytes()), "é");
    }
}
