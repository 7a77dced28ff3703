//! IMAP URLs (RFC 5092) as CATENATE (RFC 4469) and URLAUTH (RFC 4467) use them:
//! one message or part of one, absolute (`imap://user@host/box;uidvalidity=1/;uid=2`)
//! or relative to the server (`/box/;uid=2/;section=1`) or to the selected
//! mailbox (`;uid=2`). Pure parsing; the session resolves the mailbox.

use super::lexer::Cursor;
use super::Section;

/// A parsed IMAP URL naming one message (or a part of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// `user` of `imap://user@host/...` (percent-decoded), if absolute.
    pub user: Option<String>,
    /// The mailbox (UTF-8, percent-decoded); None: the selected mailbox.
    pub mailbox: Option<String>,
    pub uid_validity: Option<u32>,
    pub uid: u32,
    /// None: the whole message.
    pub section: Option<Section>,
    /// `;partial=start[.length]`.
    pub partial: Option<(u64, Option<u64>)>,
    pub urlauth: Option<UrlAuth>,
}

/// The URLAUTH components (RFC 4467 section 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlAuth {
    /// `;EXPIRE=` as given (not checked here).
    pub expire: Option<String>,
    /// `anonymous`, `authuser`, `user+name`, `submit+name` (lowercased keyword).
    pub access: String,
    /// The URL up to and including the access identifier (what the token signs).
    pub rump: String,
    /// `:mechanism:token` when the URL is authorized.
    pub mechanism: Option<String>,
    pub token: Option<String>,
}

/// Longest URL accepted.
const MAX_URL: usize = 8 * 1024;

/// Why a URL was refused (the session answers `NO [BADURL ...]`).
pub type UrlError = &'static str;

/// Parse `raw` (as sent, percent-encoded).
pub fn parse_imap_url(raw: &[u8]) -> Result<ImapUrl, UrlError> {
    if raw.len() > MAX_URL {
        return Err("URL too long");
    }
    let text = std::str::from_utf8(raw).map_err(|_| "URL is not ASCII")?;
    if !text.is_ascii() || text.bytes().any(|b| b <= b' ') {
        return Err("invalid characters in URL");
    }
    let mut user = None;
    let mut rest = text;
    let absolute;
    if text.len() >= 7 && text[..7].eq_ignore_ascii_case("imap://") {
        let after = &text[7..];
        let slash = after.find('/').ok_or("URL names no message")?;
        let authority = &after[..slash];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            // ";AUTH=mech" after the user name does not matter here.
            let name = userinfo.split(';').next().unwrap_or_default();
            if !name.is_empty() {
                user = Some(percent_decode(name)?);
            }
        }
        rest = &after[slash..];
        absolute = true;
    } else {
        absolute = rest.starts_with('/');
    }
    let lower = rest.to_ascii_lowercase();
    // The mailbox may contain "/", so the message is found by its ";uid=".
    let uid_at = if absolute {
        lower.find("/;uid=").ok_or("URL names no message")?
    } else if lower.starts_with(";uid=") {
        0
    } else {
        return Err("unsupported relative URL");
    };
    let mut mailbox = None;
    let mut uid_validity = None;
    if absolute {
        if uid_at == 0 {
            return Err("URL names no mailbox");
        }
        let mut mref = &rest[1..uid_at];
        if let Some(p) = mref.to_ascii_lowercase().find(";uidvalidity=") {
            let n = &mref[p + ";uidvalidity=".len()..];
            uid_validity = Some(nz_number(n)?);
            mref = &mref[..p];
        }
        if mref.is_empty() {
            return Err("URL names no mailbox");
        }
        mailbox = Some(percent_decode(mref)?);
    }
    let tail_start = if absolute { uid_at + 1 } else { 0 };
    let tail = &rest[tail_start..];
    // Components: ";uid=N", "/;section=S", "/;partial=A.B", then the URLAUTH
    // rump ";expire=..;urlauth=access" and ":mech:token".
    let (body, auth_part) = match tail.to_ascii_lowercase().find(";urlauth=") {
        Some(p) => (&tail[..p], Some(p)),
        None => (tail, None),
    };
    let (body, expire) = match body.to_ascii_lowercase().find(";expire=") {
        Some(p) => (&body[..p], Some(body[p + ";expire=".len()..].to_string())),
        None => (body, None),
    };
    let mut uid = None;
    let mut section = None;
    let mut partial = None;
    for (i, comp) in body.split('/').enumerate() {
        let lower = comp.to_ascii_lowercase();
        if i == 0 {
            let n = lower.strip_prefix(";uid=").ok_or("expected ;UID=")?;
            uid = Some(nz_number(n)?);
        } else if let Some(s) = lower.strip_prefix(";section=") {
            if section.is_some() || partial.is_some() {
                return Err("misplaced ;SECTION=");
            }
            let decoded = percent_decode(&comp[comp.len() - s.len()..])?;
            section = Some(parse_section(&decoded)?);
        } else if let Some(p) = lower.strip_prefix(";partial=") {
            if partial.is_some() {
                return Err("repeated ;PARTIAL=");
            }
            let (start, len) = match p.split_once('.') {
                Some((a, b)) => (a, Some(u64::from(nz_number(b)?))),
                None => (p, None),
            };
            let start: u64 = start.parse().map_err(|_| "invalid ;PARTIAL=")?;
            partial = Some((start, len));
        } else {
            return Err("unknown URL component");
        }
    }
    let urlauth = match auth_part {
        None => None,
        Some(p) => {
            let after = &tail[p + ";urlauth=".len()..];
            let mut pieces = after.splitn(3, ':');
            let access = pieces.next().unwrap_or_default().to_ascii_lowercase();
            if access.is_empty() {
                return Err("empty access identifier");
            }
            let mechanism = pieces.next().map(str::to_string);
            let token = pieces.next().map(str::to_string);
            if mechanism.is_some() != token.is_some() {
                return Err("incomplete URLAUTH");
            }
            let rump_len = text.len() - after.len() + access.len();
            Some(UrlAuth {
                expire,
                access,
                rump: text[..rump_len].to_string(),
                mechanism,
                token,
            })
        }
    };
    Ok(ImapUrl {
        user,
        mailbox,
        uid_validity,
        uid: uid.ok_or("URL names no message")?,
        section,
        partial,
        urlauth,
    })
}

fn nz_number(s: &str) -> Result<u32, UrlError> {
    match s.parse::<u32>() {
        Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err("invalid number in URL"),
    }
}

/// `%XX` escapes decoded; the result must be UTF-8 (RFC 5092 mailbox names are).
pub fn percent_decode(s: &str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or("bad % escape")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad % escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad % escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "URL is not UTF-8")
}

/// A section spec as in `BODY[...]` (`1.2`, `HEADER`, `1.MIME`, `HEADER.FIELDS (A B)`).
fn parse_section(s: &str) -> Result<Section, UrlError> {
    let wrapped = format!("[{s}]");
    let mut c = Cursor::new(wrapped.as_bytes());
    let section = super::command::section(&mut c).map_err(|_| "invalid ;SECTION=")?;
    if !c.at_end() {
        return Err("invalid ;SECTION=");
    }
    Ok(section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::SectionText;

    #[test]
    fn relative_and_absolute_forms() {
        let u = parse_imap_url(b"/Other%20box;UIDVALIDITY=7/;UID=3/;SECTION=header").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Other box"));
        assert_eq!((u.uid_validity, u.uid), (Some(7), 3));
        assert_eq!(u.section.unwrap().text, Some(SectionText::Header));
        let u = parse_imap_url(b"/a/b/;uid=2/;section=1.2.MIME/;partial=10.5").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("a/b"));
        assert_eq!(u.section.unwrap().part, vec![1, 2]);
        assert_eq!(u.partial, Some((10, Some(5))));
        let u = parse_imap_url(b";uid=9").unwrap();
        assert_eq!((u.mailbox, u.uid), (None, 9));
        let u = parse_imap_url(
            b"imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=user+joe:internal:abcd",
        )
        .unwrap();
        assert_eq!(u.user.as_deref(), Some("joe"));
        let a = u.urlauth.unwrap();
        assert_eq!(a.access, "user+joe");
        assert_eq!(
            a.rump,
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=user+joe"
        );
        assert_eq!(a.token.as_deref(), Some("abcd"));
    }

    #[test]
    fn refusals() {
        for bad in [
            &b"/INBOX"[..],
            b"/INBOX/;uid=0",
            b"/INBOX/;uid=x",
            b"/;uid=1",
            b"imap://a@b/;uid=1",
            b"/INBOX/;uid=1/;section=nope",
            b"/INBOX/;uid=1/;foo=1",
            b"/IN%ZZ/;uid=1",
            b"INBOX/;uid=1",
            b"/INBOX/;uid=1;urlauth=user+x:internal",
        ] {
            assert!(
                parse_imap_url(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
