//! Any bytes as a command line: the parser answers a command or an error, never panics,
//! and what it returns is well-formed.
#![no_main]

use eider_lmtp::parser::{parse_command, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    match parse_command(line) {
        Ok(Command::Rcpt { to }) => {
            assert!(!to.is_empty());
            assert!(!to.chars().any(char::is_control));
        }
        Ok(Command::Mail { from: Some(from), .. }) => {
            assert!(!from.chars().any(char::is_control));
        }
        Ok(Command::Lhlo(name)) => assert!(!name.is_empty()),
        _ => {}
    }
});
