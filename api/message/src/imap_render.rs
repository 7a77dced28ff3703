//! RFC 3501 rendering of ENVELOPE, BODY and BODYSTRUCTURE.
//!
//! Rules (chosen once, applied everywhere):
//! - Absent values are `NIL`.
//! - A string is a quoted string when it is at most [`MAX_QUOTED`] bytes of
//!   7-bit text without CR, LF or NUL (`"` and `\` escaped); otherwise it is a
//!   literal `{n}\r\n...` (n in bytes). NUL bytes are dropped: IMAP forbids them.
//! - Media type, subtype, parameter names, transfer encoding and disposition type
//!   are upper-cased (as in RFC 3501's examples and WildDuck's answers); parameter
//!   values, ids, descriptions, MD5, languages, locations and all ENVELOPE
//!   strings are as written.
//! - Both renderings include the outer parentheses, ready to follow
//!   `ENVELOPE ` / `BODYSTRUCTURE ` / `BODY ` in a FETCH response.
//! - A multipart without children (its boundary never appeared) gets one empty
//!   text/plain child, since RFC 3501 requires at least one (as Dovecot does).
//! - A non-multipart part declared message/rfc822 but not parsed (depth limit) is
//!   described as APPLICATION/OCTET-STREAM, since MESSAGE/RFC822 would oblige us
//!   to give an envelope and body.

use std::fmt::Write;

use crate::index::{BodyPart, Envelope, EnvelopeAddress, PartKind};

/// Longest string sent as a quoted string.
pub const MAX_QUOTED: usize = 1024;

/// Append `s` as an IMAP string (quoted or literal).
pub fn push_string(out: &mut String, s: &str) {
    let quotable = s.len() <= MAX_QUOTED
        && s.bytes()
            .all(|b| b != 0 && b != b'\r' && b != b'\n' && b.is_ascii());
    if quotable {
        out.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        let clean: String = s.chars().filter(|&c| c != '\0').collect();
        let _ = write!(out, "{{{}}}\r\n", clean.len());
        out.push_str(&clean);
    }
}

/// Append `s` as an nstring: NIL when absent.
pub fn push_nstring(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_string(out, s),
        None => out.push_str("NIL"),
    }
}

fn push_upper(out: &mut String, s: &str) {
    push_string(out, &s.to_ascii_uppercase());
}

fn push_params(out: &mut String, params: &[(String, String)]) {
    if params.is_empty() {
        out.push_str("NIL");
        return;
    }
    out.push('(');
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_upper(out, name);
        out.push(' ');
        push_string(out, value);
    }
    out.push(')');
}

fn push_addresses(out: &mut String, list: &[EnvelopeAddress]) {
    if list.is_empty() {
        out.push_str("NIL");
        return;
    }
    out.push('(');
    for a in list {
        out.push('(');
        push_nstring(out, a.name.as_deref());
        out.push(' ');
        push_nstring(out, a.adl.as_deref());
        out.push(' ');
        push_nstring(out, a.mailbox.as_deref());
        out.push(' ');
        push_nstring(out, a.host.as_deref());
        out.push(')');
    }
    out.push(')');
}

/// `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
pub fn envelope(env: &Envelope) -> String {
    let mut out = String::with_capacity(256);
    push_envelope(&mut out, env);
    out
}

fn push_envelope(out: &mut String, env: &Envelope) {
    out.push('(');
    push_nstring(out, env.date.as_deref());
    out.push(' ');
    push_nstring(out, env.subject.as_deref());
    for list in [
        &env.from,
        &env.sender,
        &env.reply_to,
        &env.to,
        &env.cc,
        &env.bcc,
    ] {
        out.push(' ');
        push_addresses(out, list);
    }
    out.push(' ');
    push_nstring(out, env.in_reply_to.as_deref());
    out.push(' ');
    push_nstring(out, env.message_id.as_deref());
    out.push(')');
}

/// BODYSTRUCTURE (`extended`) or BODY of `part`, with outer parentheses.
pub fn body(part: &BodyPart, extended: bool) -> String {
    let mut out = String::with_capacity(256);
    push_body(&mut out, part, extended);
    out
}

const EMPTY_TEXT: &str = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0";

fn push_body(out: &mut String, part: &BodyPart, extended: bool) {
    out.push('(');
    match &part.kind {
        PartKind::Multipart(children) => {
            if children.is_empty() {
                out.push_str(EMPTY_TEXT);
                out.push_str(if extended { " NIL NIL NIL NIL)" } else { ")" });
            }
            for child in children {
                push_body(out, child, extended);
            }
            out.push(' ');
            push_upper(out, &part.media_subtype);
            if extended {
                out.push(' ');
                push_params(out, &part.params);
                push_common_ext(out, part);
            }
        }
        PartKind::Message { envelope, root } => {
            push_basic(out, part, "MESSAGE", "RFC822");
            out.push(' ');
            push_envelope(out, envelope);
            out.push(' ');
            push_body(out, root, extended);
            let _ = write!(out, " {}", part.lines);
            if extended {
                push_leaf_ext(out, part);
            }
        }
        PartKind::Leaf => {
            let declared_message = part.media_type == "message" && part.media_subtype == "rfc822";
            let (t, s) = if declared_message {
                ("APPLICATION".to_string(), "OCTET-STREAM".to_string())
            } else {
                (
                    part.media_type.to_ascii_uppercase(),
                    part.media_subtype.to_ascii_uppercase(),
                )
            };
            push_basic(out, part, &t, &s);
            if part.media_type == "text" {
                let _ = write!(out, " {}", part.lines);
            }
            if extended {
                push_leaf_ext(out, part);
            }
        }
    }
    out.push(')');
}

/// `"TYPE" "SUBTYPE" params id description "ENCODING" size`.
fn push_basic(out: &mut String, part: &BodyPart, t: &str, s: &str) {
    push_string(out, t);
    out.push(' ');
    push_string(out, s);
    out.push(' ');
    push_params(out, &part.params);
    out.push(' ');
    push_nstring(out, part.id.as_deref());
    out.push(' ');
    push_nstring(out, part.description.as_deref());
    out.push(' ');
    push_upper(out, &part.encoding);
    let _ = write!(out, " {}", part.size);
}

/// Extension data of a non-multipart part: md5, then the common fields.
fn push_leaf_ext(out: &mut String, part: &BodyPart) {
    out.push(' ');
    push_nstring(out, part.md5.as_deref());
    push_common_ext(out, part);
}

/// disposition, language, location.
fn push_common_ext(out: &mut String, part: &BodyPart) {
    out.push(' ');
    match &part.disposition {
        Some((kind, params)) => {
            out.push('(');
            push_upper(out, kind);
            out.push(' ');
            push_params(out, params);
            out.push(')');
        }
        None => out.push_str("NIL"),
    }
    out.push(' ');
    match &part.language {
        Some(langs) if !langs.is_empty() => {
            out.push('(');
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                push_string(out, l);
            }
            out.push(')');
        }
        _ => out.push_str("NIL"),
    }
    out.push(' ');
    push_nstring(out, part.location.as_deref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut s = String::new();
        push_string(&mut s, "a \"b\" \\c");
        assert_eq!(s, r#""a \"b\" \\c""#);
        s.clear();
        push_string(&mut s, "Jörg");
        assert_eq!(s, "{5}\r\nJörg");
        s.clear();
        push_string(&mut s, "a\r\nb");
        assert_eq!(s, "{4}\r\na\r\nb");
        s.clear();
        push_string(&mut s, &"x".repeat(MAX_QUOTED + 1));
        assert!(s.starts_with("{1025}\r\n"));
        s.clear();
        push_nstring(&mut s, None);
        assert_eq!(s, "NIL");
    }
}
