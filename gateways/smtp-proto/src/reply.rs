//! Replies: a code, an RFC 3463 enhanced status code and text, rendered as one
//! or more lines.

use std::borrow::Cow;

/// One server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code ("2.1.5"); None for replies that carry none (220, 221 greeting lines keep one too).
    pub status: Option<&'static str>,
    /// One entry per line; never empty.
    pub lines: Vec<Cow<'static, str>>,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (the greeting and LHLO's lines).
    pub fn plain(code: u16, lines: Vec<Cow<'static, str>>) -> Self {
        Self {
            code,
            status: None,
            lines,
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Append the wire form (CRLF-terminated lines) to `out`. Control characters in
    /// the text are replaced so that no reply can break the line structure.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.extend_from_slice(self.code.to_string().as_bytes());
            out.push(if i == last { b' ' } else { b'-' });
            if let Some(status) = self.status {
                out.extend_from_slice(status.as_bytes());
                out.push(b' ');
            }
            for c in line.chars() {
                if c.is_control() {
                    out.push(b'?');
                } else {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            out.extend_from_slice(b"\r\n");
        }
        if self.lines.is_empty() {
            out.extend_from_slice(format!("{} \r\n", self.code).as_bytes());
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

// The replies the session uses, named once.

pub fn ok() -> Reply {
    Reply::new(250, "2.0.0", "OK")
}
pub fn sender_ok() -> Reply {
    Reply::new(250, "2.1.0", "Sender OK")
}
pub fn recipient_ok() -> Reply {
    Reply::new(250, "2.1.5", "Recipient OK")
}
pub fn start_data() -> Reply {
    Reply::new(354, "2.0.0", "Start mail input; end with <CRLF>.<CRLF>")
}
pub fn bye() -> Reply {
    Reply::new(221, "2.0.0", "Bye")
}
pub fn vrfy() -> Reply {
    Reply::new(
        252,
        "2.5.0",
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}
pub fn help() -> Reply {
    Reply::new(
        214,
        "2.0.0",
        "Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
    )
}
pub fn ready_tls() -> Reply {
    Reply::new(220, "2.0.0", "Ready to start TLS")
}

pub fn unknown_command() -> Reply {
    Reply::new(500, "5.5.1", "Unrecognized command")
}
pub fn line_too_long() -> Reply {
    Reply::new(500, "5.5.2", "Line too long")
}
pub fn use_lhlo() -> Reply {
    Reply::new(500, "5.5.1", "This is LMTP: say LHLO")
}
pub fn syntax(text: impl Into<Cow<'static, str>>) -> Reply {
    Reply::new(501, "5.5.4", text)
}
pub fn bad_encoding() -> Reply {
    Reply::new(501, "5.5.2", "Invalid UTF-8 in command")
}
pub fn not_implemented() -> Reply {
    Reply::new(502, "5.5.1", "Command not implemented")
}
pub fn bad_sequence(text: &'static str) -> Reply {
    Reply::new(503, "5.5.1", text)
}
pub fn param_unsupported(text: impl Into<Cow<'static, str>>) -> Reply {
    Reply::new(555, "5.5.4", text)
}
pub fn too_big() -> Reply {
    Reply::new(552, "5.3.4", "Message exceeds the maximum message size")
}
pub fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3", "Too many recipients")
}
pub fn tls_unavailable() -> Reply {
    Reply::new(454, "4.7.0", "TLS not available")
}
pub fn shutting_down() -> Reply {
    Reply::new(421, "4.3.2", "Service shutting down, closing connection")
}
pub fn timeout() -> Reply {
    Reply::new(421, "4.4.2", "Timeout, closing connection")
}
pub fn too_many_errors() -> Reply {
    Reply::new(421, "4.7.0", "Too many errors, closing connection")
}
pub fn too_many_connections() -> Reply {
    Reply::new(421, "4.3.2", "Too many connections, try again later")
}
pub fn temp_failure() -> Reply {
    Reply::new(451, "4.3.0", "Temporary server failure, try again later")
}

/// The answer to a command line the parser refused (the same for LMTP and SMTP).
pub fn for_parse_error(e: &crate::parser::ParseError) -> Reply {
    use crate::parser::ParseError;
    match e {
        ParseError::Unknown => unknown_command(),
        ParseError::NotUtf8 => bad_encoding(),
        ParseError::Syntax(m) => syntax(*m),
        ParseError::UnsupportedParam(p) => param_unsupported(format!("Unsupported parameter {p}")),
        ParseError::BadParamValue(p) => syntax(format!("Invalid value for {p}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_single_and_multi_line_replies() {
        assert_eq!(ok().to_bytes(), b"250 2.0.0 OK\r\n");
        let multi = Reply::plain(250, vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(multi.to_bytes(), b"250-a\r\n250-b\r\n250 c\r\n");
        let evil = Reply::new(550, "5.1.1", "x\r\n250 ok");
        assert_eq!(evil.to_bytes(), b"550 5.1.1 x??250 ok\r\n");
        assert!(ok().is_positive() && !temp_failure().is_positive());
    }
}
