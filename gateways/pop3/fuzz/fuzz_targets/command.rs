//! The POP3 command parser and the AUTH PLAIN decoder never panic, and what parses
//! re-parses the same after a round trip through its canonical spelling.
#![no_main]

use eider_pop3::command::{parse, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = parse(data) {
        if let Some(line) = canonical(&cmd) {
            assert_eq!(parse(line.as_bytes()).ok(), Some(cmd));
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = eider_pop3::sasl::decode_plain(s);
    }
});

fn canonical(cmd: &Command) -> Option<String> {
    Some(match cmd {
        Command::Stat => "STAT".into(),
        Command::Noop => "NOOP".into(),
        Command::Rset => "RSET".into(),
        Command::Quit => "QUIT".into(),
        Command::Capa => "CAPA".into(),
        Command::Stls => "STLS".into(),
        Command::List(Some(n)) => format!("LIST {n}"),
        Command::List(None) => "LIST".into(),
        Command::Uidl(Some(n)) => format!("UIDL {n}"),
        Command::Uidl(None) => "UIDL".into(),
        Command::Retr(n) => format!("RETR {n}"),
        Command::Dele(n) => format!("DELE {n}"),
        Command::Top(n, l) => format!("TOP {n} {l}"),
        _ => return None,
    })
}
