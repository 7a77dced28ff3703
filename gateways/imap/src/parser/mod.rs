//! The IMAP command parser: a hand-written recursive-descent parser over one
//! complete command (lines and literals), plus the framing rule that tells the
//! transport where a command ends. Pure and synchronous, so it can be fuzzed.

mod command;
pub mod framing;
mod lexer;
mod notify;
mod search;
pub mod types;
pub mod url;

pub use command::parse_command;
pub use lexer::{is_astring_char, is_atom_char};
pub use types::*;

/// Why a command could not be parsed; answered with `BAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command's tag when it could be read (else the answer is untagged).
    pub tag: Option<String>,
    pub message: &'static str,
}

impl ParseError {
    pub fn new(message: &'static str) -> Self {
        Self { tag: None, message }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::response::{compress_set, write_string};

    proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_command(&data);
            let _ = framing::literal_at_end(&data);
        }

        #[test]
        fn commandish_text_never_panics(s in "[a-zA-Z0-9 ()\\[\\]<>.*%\"{}+~:,\\\\-]{0,120}") {
            let _ = parse_command(format!("a {s}\r\n").as_bytes());
            let _ = parse_command(format!("a UID FETCH 1:* {s}").as_bytes());
            let _ = parse_command(format!("a SEARCH {s}").as_bytes());
            let _ = parse_command(format!("a LIST {s}").as_bytes());
        }

        #[test]
        fn written_strings_parse_back(data in proptest::collection::vec(any::<u8>(), 0..200), utf8 in any::<bool>()) {
            let mut cmd = b"a SELECT ".to_vec();
            write_string(&mut cmd, &data, utf8);
            let parsed = parse_command(&cmd).map(|r| r.command);
            let ok = matches!(parsed, Ok(Command::Select { ref mailbox, .. }) if *mailbox == data);
            prop_assert!(ok, "did not parse back");
        }

        #[test]
        fn written_sets_parse_back(mut uids in proptest::collection::vec(1u32.., 1..50)) {
            uids.sort_unstable();
            uids.dedup();
            let cmd = format!("a UID FETCH {} FLAGS", compress_set(&uids));
            let Ok(Command::Fetch { set, .. }) = parse_command(cmd.as_bytes()).map(|r| r.command) else {
                return Err(TestCaseError::fail("set did not parse"));
            };
            let mut back = Vec::new();
            for (a, b) in set.0 {
                if let (SeqBound::Num(a), SeqBound::Num(b)) = (a, b) {
                    back.extend(a..=b);
                }
            }
            prop_assert_eq!(back, uids);
        }
    }
}
