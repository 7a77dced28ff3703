//! The POP3 command parser: one client line (without its line ending) to a [`Command`].
//!
//! Keywords are case-insensitive (RFC 1939 section 3). Arguments are separated by
//! spaces; USER and PASS take the rest of the line so that passwords may contain spaces.

use thiserror::Error;

/// Longest command line accepted, line ending excluded. RFC 2449 allows 255 octets
/// for commands; AUTH initial responses and long passwords need more.
pub const MAX_LINE: usize = 8192;

/// A parsed client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Apop,
    /// `AUTH` alone lists mechanisms; otherwise a mechanism and an optional initial response.
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    Capa,
    Stls,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Top(u32, u64),
    Uidl(Option<u32>),
    Quit,
}

impl Command {
    /// The keyword, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top(..) => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Quit => "QUIT",
        }
    }
}

/// Why a line is not a valid command. The messages are sent to the client after "-ERR ".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty command")]
    Empty,
    #[error("unknown command")]
    Unknown,
    #[error("command contains invalid characters")]
    InvalidCharacters,
    #[error("command line too long")]
    TooLong,
    #[error("syntax error: {0}")]
    Syntax(&'static str),
}

/// Parse one command line. `line` excludes the CRLF (a trailing CR is tolerated).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(ParseError::TooLong);
    }
    if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(ParseError::InvalidCharacters);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::InvalidCharacters)?;
    if line.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, r),
        None => (line, ""),
    };
    if keyword.is_empty() || keyword.len() > 4 {
        return Err(ParseError::Unknown);
    }
    let keyword = keyword.to_ascii_uppercase();
    let mut args = Args::new(rest);
    let cmd = match keyword.as_str() {
        "USER" => Command::User(rest_of_line(rest, "USER needs a name")?),
        "PASS" => Command::Pass(password(rest)?),
        "APOP" => Command::Apop,
        "AUTH" => {
            let mechanism = args.next().map(str::to_string);
            let initial = args.next().map(str::to_string);
            args.end()?;
            Command::Auth { mechanism, initial }
        }
        "CAPA" => args.end().map(|_| Command::Capa)?,
        "STLS" => args.end().map(|_| Command::Stls)?,
        "STAT" => args.end().map(|_| Command::Stat)?,
        "NOOP" => args.end().map(|_| Command::Noop)?,
        "RSET" => args.end().map(|_| Command::Rset)?,
        "QUIT" => args.end().map(|_| Command::Quit)?,
        "LIST" => {
            let n = args.next().map(message_number).transpose()?;
            args.end()?;
            Command::List(n)
        }
        "UIDL" => {
            let n = args.next().map(message_number).transpose()?;
            args.end()?;
            Command::Uidl(n)
        }
        "RETR" => {
            let n = message_number(args.required("RETR needs a message number")?)?;
            args.end()?;
            Command::Retr(n)
        }
        "DELE" => {
            let n = message_number(args.required("DELE needs a message number")?)?;
            args.end()?;
            Command::Dele(n)
        }
        "TOP" => {
            let n = message_number(args.required("TOP needs a message number")?)?;
            let lines = line_count(args.required("TOP needs a line count")?)?;
            args.end()?;
            Command::Top(n, lines)
        }
        _ => return Err(ParseError::Unknown),
    };
    Ok(cmd)
}

/// Space-separated arguments; runs of spaces count as one separator.
struct Args<'a> {
    parts: std::str::Split<'a, char>,
}

impl<'a> Args<'a> {
    fn new(rest: &'a str) -> Self {
        Self {
            parts: rest.split(' '),
        }
    }

    fn next(&mut self) -> Option<&'a str> {
        self.parts.by_ref().find(|p| !p.is_empty())
    }

    fn required(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        self.next().ok_or(ParseError::Syntax(what))
    }

    fn end(&mut self) -> Result<(), ParseError> {
        match self.next() {
            None => Ok(()),
            Some(_) => Err(ParseError::Syntax("too many arguments")),
        }
    }
}

fn rest_of_line(rest: &str, what: &'static str) -> Result<String, ParseError> {
    let v = rest.trim_matches(' ');
    if v.is_empty() {
        return Err(ParseError::Syntax(what));
    }
    Ok(v.to_string())
}

/// PASS takes everything after the single separating space, spaces included.
fn password(rest: &str) -> Result<String, ParseError> {
    if rest.is_empty() {
        return Err(ParseError::Syntax("PASS needs a password"));
    }
    Ok(rest.to_string())
}

/// A 1-based message number: digits only, no sign, fits in u32.
fn message_number(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("invalid message number"));
    }
    s.parse::<u32>()
        .map_err(|_| ParseError::Syntax("invalid message number"))
}

/// TOP's line count: any non-negative decimal, saturating at u64::MAX.
fn line_count(s: &str) -> Result<u64, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("invalid line count"));
    }
    Ok(s.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn simple_commands_any_case() {
        assert_eq!(p("stat"), Ok(Command::Stat));
        assert_eq!(p("StAt\r"), Ok(Command::Stat));
        assert_eq!(p("NOOP"), Ok(Command::Noop));
        assert_eq!(p("rset"), Ok(Command::Rset));
        assert_eq!(p("QUIT"), Ok(Command::Quit));
        assert_eq!(p("CAPA"), Ok(Command::Capa));
        assert_eq!(p("stls"), Ok(Command::Stls));
        assert_eq!(p("APOP user digest"), Ok(Command::Apop));
    }

    #[test]
    fn message_numbers() {
        assert_eq!(p("LIST"), Ok(Command::List(None)));
        assert_eq!(p("LIST 3"), Ok(Command::List(Some(3))));
        assert_eq!(p("uidl 12"), Ok(Command::Uidl(Some(12))));
        assert_eq!(p("RETR 1"), Ok(Command::Retr(1)));
        assert_eq!(p("DELE  7"), Ok(Command::Dele(7)));
        assert_eq!(p("RETR 4294967295"), Ok(Command::Retr(u32::MAX)));
        assert_eq!(p("TOP 2 0"), Ok(Command::Top(2, 0)));
        assert_eq!(
            p("TOP 2 99999999999999999999999"),
            Ok(Command::Top(2, u64::MAX))
        );
        for bad in [
            "RETR",
            "RETR x",
            "RETR -1",
            "RETR +1",
            "RETR 4294967296",
            "RETR 1 2",
            "TOP 1",
            "TOP 1 -2",
            "LIST a",
            "DELE 1.5",
        ] {
            assert!(matches!(p(bad), Err(ParseError::Syntax(_))), "{bad}");
        }
    }

    #[test]
    fn user_and_pass_keep_the_rest_of_the_line() {
        assert_eq!(
            p("USER alice@example.com"),
            Ok(Command::User("alice@example.com".into()))
        );
        assert_eq!(
            p("PASS  two words "),
            Ok(Command::Pass(" two words ".into()))
        );
        assert!(matches!(p("PASS"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("USER "), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn auth_forms() {
        assert_eq!(
            p("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert_eq!(
            p("AUTH PLAIN"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: None
            })
        );
        assert_eq!(
            p("auth plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("plain".into()),
                initial: Some("AGEAYg==".into())
            })
        );
        assert!(p("AUTH PLAIN a b").is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(p(""), Err(ParseError::Empty));
        assert_eq!(p("   "), Err(ParseError::Empty));
        assert_eq!(p("FOO"), Err(ParseError::Unknown));
        assert_eq!(p("STATS"), Err(ParseError::Unknown));
        assert_eq!(p(" STAT"), Err(ParseError::Unknown));
        assert_eq!(p("STAT x"), Err(ParseError::Syntax("too many arguments")));
        assert_eq!(parse(b"ST\0T"), Err(ParseError::InvalidCharacters));
        assert_eq!(parse(b"USER \xff"), Err(ParseError::InvalidCharacters));
        assert_eq!(parse(b"NOOP\rNOOP"), Err(ParseError::InvalidCharacters));
        let long = format!("USER {}", "a".repeat(MAX_LINE));
        assert_eq!(p(&long), Err(ParseError::TooLong));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic sweep; the fuzz target explores further.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let alphabet = b"RETRTOPLISTUIDLAUTH 0123456789-+\r\0\xff\n";
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 56)) as usize + i) % alphabet.len()])
                .collect();
            let _ = parse(&bytes);
        }
    }
}
