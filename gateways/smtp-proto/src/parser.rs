//! The command parser: one command line (without its CRLF) into a [`Command`].
//! Pure and total: any input yields a command or a [`ParseError`], never a panic.

use thiserror::Error;

/// BODY= values (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

/// The parameters of MAIL FROM that Eider understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// SIZE= (RFC 1870): the client's estimate of the message size.
    pub size: Option<u64>,
    pub body: Option<Body>,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Lhlo(String),
    /// HELO: not LMTP.
    Helo,
    /// EHLO with the client's name (SMTP submission; LMTP answers it with "use LHLO").
    Ehlo(String),
    /// AUTH (RFC 4954): the mechanism (uppercase) and the optional initial response.
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    Mail {
        /// None for the null reverse-path `<>`.
        from: Option<String>,
        params: MailParams,
    },
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn,
    Help,
    StartTls,
}

impl Command {
    /// The verb, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Lhlo(_) => "LHLO",
            Command::Helo => "HELO",
            Command::Ehlo(_) => "EHLO",
            Command::Auth { .. } => "AUTH",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn => "EXPN",
            Command::Help => "HELP",
            Command::StartTls => "STARTTLS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("unrecognized command")]
    Unknown,
    #[error("command is not valid UTF-8")]
    NotUtf8,
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    #[error("unsupported parameter {0}")]
    UnsupportedParam(String),
    #[error("invalid value for parameter {0}")]
    BadParamValue(String),
}

/// Parse one command line (CRLF already removed).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let line = line.trim_end_matches([' ', '\t', '\r']);
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r.trim_start_matches(' ')),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "LHLO" => {
            if rest.is_empty() {
                Err(ParseError::Syntax(
                    "LHLO requires a domain or address literal",
                ))
            } else {
                Ok(Command::Lhlo(
                    rest.split(' ').next().unwrap_or(rest).to_string(),
                ))
            }
        }
        "HELO" => Ok(Command::Helo),
        "EHLO" => {
            if rest.is_empty() {
                Err(ParseError::Syntax(
                    "EHLO requires a domain or address literal",
                ))
            } else {
                Ok(Command::Ehlo(
                    rest.split(' ').next().unwrap_or(rest).to_string(),
                ))
            }
        }
        "AUTH" => {
            let mut words = rest.split(' ').filter(|w| !w.is_empty());
            let mechanism = words
                .next()
                .ok_or(ParseError::Syntax("AUTH requires a mechanism"))?
                .to_ascii_uppercase();
            let initial = words.next().map(str::to_string);
            if words.next().is_some() {
                return Err(ParseError::Syntax("too many arguments to AUTH"));
            }
            Ok(Command::Auth { mechanism, initial })
        }
        "MAIL" => parse_mail(rest),
        "RCPT" => parse_rcpt(rest),
        "DATA" => no_args(rest, Command::Data),
        "RSET" => no_args(rest, Command::Rset),
        "QUIT" => no_args(rest, Command::Quit),
        "STARTTLS" => no_args(rest, Command::StartTls),
        // NOOP and HELP may carry an argument, which is ignored (RFC 5321 4.1.1.9/4.1.1.8).
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" => {
            if rest.is_empty() {
                Err(ParseError::Syntax("VRFY requires an argument"))
            } else {
                Ok(Command::Vrfy(rest.to_string()))
            }
        }
        "EXPN" => Ok(Command::Expn),
        _ => Err(ParseError::Unknown),
    }
}

fn no_args(rest: &str, cmd: Command) -> Result<Command, ParseError> {
    if rest.is_empty() {
        Ok(cmd)
    } else {
        Err(ParseError::Syntax("this command takes no arguments"))
    }
}

/// Strip a case-insensitive keyword ("FROM:") and following spaces.
fn keyword<'a>(rest: &'a str, kw: &str) -> Option<&'a str> {
    let head = rest.get(..kw.len())?;
    if head.eq_ignore_ascii_case(kw) {
        rest.get(kw.len()..).map(|r| r.trim_start_matches(' '))
    } else {
        None
    }
}

fn parse_mail(rest: &str) -> Result<Command, ParseError> {
    let rest = keyword(rest, "FROM:").ok_or(ParseError::Syntax("expected MAIL FROM:<address>"))?;
    let (path, params) = split_path(rest)?;
    let from = if path.is_empty() {
        None
    } else {
        Some(mailbox(path)?)
    };
    let mut out = MailParams::default();
    for p in params.split(' ').filter(|p| !p.is_empty()) {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (p, None),
        };
        match (key.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) => {
                if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::BadParamValue("SIZE".into()));
                }
                out.size = Some(
                    v.parse()
                        .map_err(|_| ParseError::BadParamValue("SIZE".into()))?,
                );
            }
            ("BODY", Some(v)) => {
                out.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    _ => return Err(ParseError::BadParamValue("BODY".into())),
                });
            }
            ("SMTPUTF8", None) => out.smtputf8 = true,
            ("SIZE" | "BODY" | "SMTPUTF8", _) => {
                return Err(ParseError::BadParamValue(key.to_ascii_uppercase()))
            }
            _ => return Err(ParseError::UnsupportedParam(printable(key))),
        }
    }
    Ok(Command::Mail { from, params: out })
}

fn parse_rcpt(rest: &str) -> Result<Command, ParseError> {
    let rest = keyword(rest, "TO:").ok_or(ParseError::Syntax("expected RCPT TO:<address>"))?;
    let (path, params) = split_path(rest)?;
    if path.is_empty() {
        return Err(ParseError::Syntax("empty recipient address"));
    }
    if let Some(p) = params.split(' ').find(|p| !p.is_empty()) {
        let key = p.split('=').next().unwrap_or(p);
        return Err(ParseError::UnsupportedParam(printable(key)));
    }
    Ok(Command::Rcpt { to: mailbox(path)? })
}

/// Split `<path> params` into the text inside the brackets and the parameters.
/// A bare address without brackets is accepted too (some clients send them).
fn split_path(rest: &str) -> Result<(&str, &str), ParseError> {
    let Some(inner) = rest.strip_prefix('<') else {
        let (addr, params) = rest.split_once(' ').unwrap_or((rest, ""));
        if addr.is_empty() || addr.contains(['<', '>']) {
            return Err(ParseError::Syntax("expected <address>"));
        }
        return Ok((addr, params));
    };
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => {
                let path = &inner[..i];
                let after = &inner[i + 1..];
                if !after.is_empty() && !after.starts_with(' ') {
                    return Err(ParseError::Syntax("expected a space after the address"));
                }
                return Ok((path, after.trim_start_matches(' ')));
            }
            _ => {}
        }
    }
    Err(ParseError::Syntax("unterminated address"))
}

/// The mailbox of a path: source routes dropped, a quoted local part unquoted.
fn mailbox(path: &str) -> Result<String, ParseError> {
    // "@a,@b:user@example.com" (RFC 5321 4.1.2: source routes are ignored).
    let path = if path.starts_with('@') {
        path.split_once(':')
            .map(|(_, m)| m)
            .ok_or(ParseError::Syntax("malformed source route"))?
    } else {
        path
    };
    if path.chars().any(|c| c.is_control()) {
        return Err(ParseError::Syntax("control characters in address"));
    }
    let Some(quoted) = path.strip_prefix('"') else {
        if path.contains(['<', '>', ' ']) {
            return Err(ParseError::Syntax("invalid address"));
        }
        return Ok(path.to_string());
    };
    let mut local = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => local.push(e),
                None => break,
            },
            '"' => {
                let domain = &quoted[i + 1..];
                if !domain.starts_with('@') || domain.len() < 2 {
                    return Err(ParseError::Syntax("invalid address"));
                }
                local.push_str(domain);
                return Ok(local);
            }
            c => local.push(c),
        }
    }
    Err(ParseError::Syntax("unterminated quoted local part"))
}

/// Parameter names echoed in replies: printable ASCII only, bounded.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse_command(s.as_bytes())
    }

    #[test]
    fn simple_commands() {
        assert_eq!(
            p("LHLO client.example"),
            Ok(Command::Lhlo("client.example".into()))
        );
        assert_eq!(
            p("lhlo [127.0.0.1]"),
            Ok(Command::Lhlo("[127.0.0.1]".into()))
        );
        assert!(matches!(p("LHLO"), Err(ParseError::Syntax(_))));
        assert_eq!(p("EHLO x"), Ok(Command::Ehlo("x".into())));
        assert_eq!(
            p("auth plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into())
            })
        );
        assert!(p("AUTH").is_err());
        assert_eq!(p("data"), Ok(Command::Data));
        assert!(matches!(p("DATA now"), Err(ParseError::Syntax(_))));
        assert_eq!(p("NOOP whatever"), Ok(Command::Noop));
        assert_eq!(p("Quit"), Ok(Command::Quit));
        assert_eq!(p("RSET  "), Ok(Command::Rset));
        assert_eq!(p("VRFY bob"), Ok(Command::Vrfy("bob".into())));
        assert!(matches!(p("VRFY"), Err(ParseError::Syntax(_))));
        assert_eq!(p("STARTTLS"), Ok(Command::StartTls));
        assert_eq!(p("FOO bar"), Err(ParseError::Unknown));
        assert_eq!(p(""), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"NOOP \xff"), Err(ParseError::NotUtf8));
    }

    #[test]
    fn mail_from_with_parameters() {
        assert_eq!(
            p("MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8"),
            Ok(Command::Mail {
                from: Some("a@example.com".into()),
                params: MailParams {
                    size: Some(1000),
                    body: Some(Body::EightBitMime),
                    smtputf8: true,
                }
            })
        );
        assert_eq!(
            p("mail from: <>"),
            Ok(Command::Mail {
                from: None,
                params: MailParams::default()
            })
        );
        assert_eq!(
            p("MAIL FROM:<@relay.example,@r2.example:ü@bücher.example>"),
            Ok(Command::Mail {
                from: Some("ü@bücher.example".into()),
                params: MailParams::default()
            })
        );
        assert!(matches!(
            p("MAIL FROM:<a@b> SIZE=abc"),
            Err(ParseError::BadParamValue(_))
        ));
        assert!(matches!(
            p("MAIL FROM:<a@b> SIZE=99999999999999999999999"),
            Err(ParseError::BadParamValue(_))
        ));
        assert!(matches!(
            p("MAIL FROM:<a@b> BODY=BINARYMIME"),
            Err(ParseError::BadParamValue(_))
        ));
        assert!(matches!(
            p("MAIL FROM:<a@b> SMTPUTF8=yes"),
            Err(ParseError::BadParamValue(_))
        ));
        assert_eq!(
            p("MAIL FROM:<a@b> RET=FULL"),
            Err(ParseError::UnsupportedParam("RET".into()))
        );
        assert!(matches!(p("MAIL TO:<a@b>"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("MAIL FROM:<a@b"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            p("MAIL FROM:<a@b>SIZE=1"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(p("MAIL"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn rcpt_to_forms() {
        assert_eq!(
            p("RCPT TO:<John.Doe+x@Example.com>"),
            Ok(Command::Rcpt {
                to: "John.Doe+x@Example.com".into()
            })
        );
        assert_eq!(
            p("rcpt to:bare@example.com"),
            Ok(Command::Rcpt {
                to: "bare@example.com".into()
            })
        );
        assert_eq!(
            p("RCPT TO:<\"john \\\"q\\\" doe\"@example.com>"),
            Ok(Command::Rcpt {
                to: "john \"q\" doe@example.com".into()
            })
        );
        assert_eq!(
            p("RCPT TO:<\"a>b\"@example.com>"),
            Ok(Command::Rcpt {
                to: "a>b@example.com".into()
            })
        );
        assert!(matches!(p("RCPT TO:<>"), Err(ParseError::Syntax(_))));
        assert_eq!(
            p("RCPT TO:<a@example.com> NOTIFY=NEVER"),
            Err(ParseError::UnsupportedParam("NOTIFY".into()))
        );
        assert!(matches!(
            p("RCPT TO:<\"open@example.com>"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            p("RCPT TO:<a\tb@example.com>"),
            Err(ParseError::Syntax(_))
        ));
        assert_eq!(
            p("RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: "Postmaster".into()
            })
        );
    }
}
