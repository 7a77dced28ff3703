//! RFC 5322 address lists, parsed leniently and kept raw (undecoded).
//!
//! ENVELOPE needs (name adl mailbox host) with the name as written (encoded
//! words left alone, RFC 3501 7.4.2) and group syntax preserved; the API wants
//! decoded names. Both come from this one parser so they always agree.

use super::decode::decode_words;
use super::fields::lossy;
use crate::index::{Address, EnvelopeAddress, MAX_INDEXED_ADDRESSES};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An atom or the content of a quoted string; `space` = whitespace or a comment preceded it.
    Word {
        text: Vec<u8>,
        space: bool,
    },
    Special {
        ch: u8,
        space: bool,
    },
    Comment(Vec<u8>),
    DomainLiteral {
        text: Vec<u8>,
        space: bool,
    },
}

fn is_special(b: u8) -> bool {
    matches!(b, b'<' | b'>' | b'@' | b',' | b';' | b':' | b'.')
}

fn tokenize(v: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut space = false;
    while i < v.len() {
        let b = v[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                space = true;
                i += 1;
            }
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < v.len() {
                    match v[i] {
                        b'\\' if i + 1 < v.len() => {
                            text.push(v[i + 1]);
                            i += 2;
                            continue;
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(b'(');
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                            text.push(b')');
                        }
                        c => text.push(c),
                    }
                    i += 1;
                }
                toks.push(Tok::Comment(text));
                space = true;
            }
            b'"' => {
                let mut text = Vec::new();
                i += 1;
                while i < v.len() {
                    match v[i] {
                        b'\\' if i + 1 < v.len() => {
                            text.push(v[i + 1]);
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\r' | b'\n' => i += 1,
                        c => {
                            text.push(c);
                            i += 1;
                        }
                    }
                }
                toks.push(Tok::Word { text, space });
                space = false;
            }
            b'[' => {
                let start = i;
                while i < v.len() && v[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(v.len());
                toks.push(Tok::DomainLiteral {
                    text: v[start..i].to_vec(),
                    space,
                });
                space = false;
            }
            _ if is_special(b) => {
                toks.push(Tok::Special { ch: b, space });
                space = false;
                i += 1;
            }
            _ => {
                let start = i;
                while i < v.len()
                    && !is_special(v[i])
                    && !matches!(v[i], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b'"' | b'[')
                {
                    i += 1;
                }
                toks.push(Tok::Word {
                    text: v[start..i].to_vec(),
                    space,
                });
                space = false;
            }
        }
    }
    toks
}

/// One entry of an address list, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Mailbox {
        name: Option<Vec<u8>>,
        route: Option<Vec<u8>>,
        local: Vec<u8>,
        domain: Option<Vec<u8>>,
    },
    GroupStart(Vec<u8>),
    GroupEnd,
}

fn is_char(t: &Tok, c: u8) -> bool {
    matches!(t, Tok::Special { ch, .. } if *ch == c)
}

/// A display phrase: words joined by single spaces where whitespace separated them.
fn phrase(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        let (text, space): (&[u8], bool) = match t {
            Tok::Word { text, space } | Tok::DomainLiteral { text, space } => (text, *space),
            Tok::Special { ch, space } => (std::slice::from_ref(ch), *space),
            Tok::Comment(_) => continue,
        };
        if space && !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(text);
    }
    out
}

/// A local part or domain: tokens concatenated, whitespace and comments dropped.
fn concat(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        match t {
            Tok::Word { text, .. } | Tok::DomainLiteral { text, .. } => out.extend_from_slice(text),
            Tok::Special { ch, .. } => out.push(*ch),
            Tok::Comment(_) => {}
        }
    }
    out
}

fn addr_spec(toks: &[Tok]) -> (Vec<u8>, Option<Vec<u8>>) {
    match toks.iter().position(|t| is_char(t, b'@')) {
        Some(at) => {
            let domain = concat(&toks[at + 1..]);
            (concat(&toks[..at]), Some(domain).filter(|d| !d.is_empty()))
        }
        None => (concat(toks), None),
    }
}

/// Parse an address-list value (unfolded or not) into raw entries, at most
/// [`MAX_INDEXED_ADDRESSES`] of them (a group cut short still gets its end marker).
pub(crate) fn parse_list(value: &[u8]) -> Vec<Entry> {
    let mut out = parse_all(value);
    if out.len() > MAX_INDEXED_ADDRESSES {
        out.truncate(MAX_INDEXED_ADDRESSES);
        let open = out.iter().fold(false, |open, e| match e {
            Entry::GroupStart(_) => true,
            Entry::GroupEnd => false,
            Entry::Mailbox { .. } => open,
        });
        if open {
            out.push(Entry::GroupEnd);
        }
    }
    out
}

/// Every entry of an address-list value. Callers hand it values already cut to
/// [`crate::index::MAX_INDEXED_VALUE`] bytes, which bounds the token list.
fn parse_all(value: &[u8]) -> Vec<Entry> {
    let toks = tokenize(value);
    let n = toks.len();
    let mut out = Vec::new();
    let mut in_group = false;
    let mut i = 0;
    while i < n {
        if is_char(&toks[i], b',') {
            i += 1;
            continue;
        }
        if is_char(&toks[i], b';') {
            if in_group {
                out.push(Entry::GroupEnd);
                in_group = false;
            }
            i += 1;
            continue;
        }
        let j = (i..n)
            .find(|&k| {
                is_char(&toks[k], b'<')
                    || is_char(&toks[k], b',')
                    || is_char(&toks[k], b';')
                    || (!in_group && is_char(&toks[k], b':'))
            })
            .unwrap_or(n);
        if j < n && is_char(&toks[j], b':') {
            out.push(Entry::GroupStart(phrase(&toks[i..j])));
            in_group = true;
            i = j + 1;
            continue;
        }
        if j < n && is_char(&toks[j], b'<') {
            let name = phrase(&toks[i..j]);
            let mut k = j + 1;
            let close = (k..n).find(|&m| is_char(&toks[m], b'>')).unwrap_or(n);
            let mut route = None;
            if k < close && is_char(&toks[k], b'@') {
                if let Some(colon) = (k..close).find(|&m| is_char(&toks[m], b':')) {
                    route = Some(concat(&toks[k..colon]));
                    k = colon + 1;
                }
            }
            let (local, domain) = addr_spec(&toks[k..close]);
            out.push(Entry::Mailbox {
                name: (!name.is_empty()).then_some(name),
                route,
                local,
                domain,
            });
            // Skip whatever follows '>' up to the next separator.
            i = close + 1;
            while i < n && !is_char(&toks[i], b',') && !is_char(&toks[i], b';') {
                i += 1;
            }
            continue;
        }
        let range = &toks[i..j];
        if range.iter().any(|t| !matches!(t, Tok::Comment(_))) {
            let (local, domain) = addr_spec(range);
            let name = range.iter().rev().find_map(|t| match t {
                Tok::Comment(c) if !c.is_empty() => Some(c.clone()),
                _ => None,
            });
            out.push(Entry::Mailbox {
                name,
                route: None,
                local,
                domain,
            });
        }
        i = j;
    }
    if in_group {
        out.push(Entry::GroupEnd);
    }
    out
}

/// Normalize text for display in ENVELOPE the way Dovecot does "for humans":
/// CR/LF dropped, tabs as spaces, runs of spaces collapsed, ends trimmed.
pub(crate) fn humanize(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    for &b in v {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => {
                if !out.is_empty() && out.last() != Some(&b' ') {
                    out.push(b' ');
                }
            }
            0 => {}
            c => out.push(c),
        }
    }
    while out.last() == Some(&b' ') {
        out.pop();
    }
    lossy(&out)
}

/// ENVELOPE address structures (RFC 3501 7.4.2). A mailbox without a local part
/// or domain gets Dovecot's `MISSING_MAILBOX` / `MISSING_DOMAIN` placeholders,
/// because a NIL host would read as a group marker.
pub(crate) fn envelope_addresses(entries: &[Entry]) -> Vec<EnvelopeAddress> {
    entries
        .iter()
        .map(|e| match e {
            Entry::Mailbox {
                name,
                route,
                local,
                domain,
            } => EnvelopeAddress {
                name: name.as_deref().map(humanize).filter(|s| !s.is_empty()),
                adl: route.as_deref().map(lossy),
                mailbox: Some(if local.is_empty() {
                    "MISSING_MAILBOX".to_string()
                } else {
                    lossy(local)
                }),
                host: Some(
                    domain
                        .as_deref()
                        .map(lossy)
                        .unwrap_or_else(|| "MISSING_DOMAIN".to_string()),
                ),
            },
            Entry::GroupStart(name) => EnvelopeAddress {
                name: None,
                adl: None,
                mailbox: Some(humanize(name)),
                host: None,
            },
            Entry::GroupEnd => EnvelopeAddress::default(),
        })
        .collect()
}

/// Decoded addresses for the API: names RFC 2047-decoded; a group contributes a
/// marker (`address == ""`, `name` = group name) followed by its members.
pub(crate) fn decoded_addresses(entries: &[Entry]) -> Vec<Address> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Mailbox {
                name,
                local,
                domain,
                ..
            } => {
                let mut address = lossy(local);
                if let Some(d) = domain {
                    address.push('@');
                    address.push_str(&lossy(d));
                }
                Some(Address {
                    name: name.as_deref().map(decode_words).unwrap_or_default(),
                    address,
                })
            }
            Entry::GroupStart(name) => Some(Address {
                name: decode_words(name),
                address: String::new(),
            }),
            Entry::GroupEnd => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    fn env(v: &str) -> Vec<Row> {
        envelope_addresses(&parse_list(v.as_bytes()))
            .into_iter()
            .map(|a| (a.name, a.adl, a.mailbox, a.host))
            .collect()
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn simple_forms() {
        assert_eq!(
            env("user@domain.org"),
            vec![(None, None, s("user"), s("domain.org"))]
        );
        assert_eq!(
            env("\"John Q. Public\" <john@x.org>, Mary Smith <mary@y.org>"),
            vec![
                (s("John Q. Public"), None, s("john"), s("x.org")),
                (s("Mary Smith"), None, s("mary"), s("y.org"))
            ]
        );
        assert_eq!(
            env("John Q. Public <j@x>"),
            vec![(s("John Q. Public"), None, s("j"), s("x"))]
        );
        assert_eq!(
            env("a@b (Comment Name)"),
            vec![(s("Comment Name"), None, s("a"), s("b"))]
        );
        assert_eq!(
            env("=?utf-8?q?J=C3=B6rg?= <j@x>"),
            vec![(s("=?utf-8?q?J=C3=B6rg?="), None, s("j"), s("x"))]
        );
        assert_eq!(
            env("<@r1,@r2:a@b>"),
            vec![(None, s("@r1,@r2"), s("a"), s("b"))]
        );
        assert_eq!(
            env("undisclosed"),
            vec![(None, None, s("undisclosed"), s("MISSING_DOMAIN"))]
        );
        assert!(env("").is_empty());
    }

    #[test]
    fn long_lists_are_capped() {
        let mut v = b"G: ".to_vec();
        for i in 0..MAX_INDEXED_ADDRESSES + 10 {
            v.extend_from_slice(format!("u{i}@x, ").as_bytes());
        }
        v.extend_from_slice(b";");
        let e = parse_list(&v);
        assert_eq!(e.len(), MAX_INDEXED_ADDRESSES + 1);
        assert_eq!(e.last(), Some(&Entry::GroupEnd));
        let e = parse_list(&v[3..v.len() - 1]);
        assert_eq!(e.len(), MAX_INDEXED_ADDRESSES);
    }

    #[test]
    fn groups() {
        assert_eq!(
            env("Friends: a@b, C <c@d>;, e@f"),
            vec![
                (None, None, s("Friends"), None),
                (None, None, s("a"), s("b")),
                (s("C"), None, s("c"), s("d")),
                (None, None, None, None),
                (None, None, s("e"), s("f")),
            ]
        );
        assert_eq!(
            env("undisclosed-recipients:;"),
            vec![
                (None, None, s("undisclosed-recipients"), None),
                (None, None, None, None)
            ]
        );
        let d = decoded_addresses(&parse_list(b"G: =?utf-8?q?J=C3=B6rg?= <j@x>;"));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].address, "");
        assert_eq!(d[1].name, "Jörg");
        assert_eq!(d[1].address, "j@x");
    }
}
