//! The response writer and the parser agree:
//! - any string written by the server (quoted or literal, with and without
//!   UTF8=ACCEPT) parses back to the same bytes, and a quoted one never holds
//!   CR, LF or NUL, nor 8-bit bytes without UTF8=ACCEPT;
//! - any stored mailbox path, written as LIST writes it (`to_wire` + `write_string`)
//!   and sent back by the client in SELECT, decodes (`from_wire`) to the same path;
//! - modified UTF-7 encodes and decodes back;
//! - any UID list written as a set parses back to the same UIDs;
//! - an INTERNALDATE as written parses back (APPEND date-time) to the same instant;
//! - a status line stays one line whatever text it carries.
#![no_main]

use eider_imap::mailbox_names::{decode_utf7, encode_utf7, from_wire, to_wire};
use eider_imap::parser::{parse_command, Command, SeqBound};
use eider_imap::response::{compress_set, internal_date, sanitize, write_string, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for utf8 in [false, true] {
        let mut cmd = b"a SELECT ".to_vec();
        write_string(&mut cmd, data, utf8);
        if cmd[9] == b'"' {
            let q = &cmd[10..cmd.len() - 1];
            assert!(!q.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)));
            assert!(utf8 || q.is_ascii());
        }
        cmd.extend_from_slice(b"\r\n");
        match parse_command(&cmd).map(|r| r.command) {
            Ok(Command::Select { mailbox, .. }) => assert_eq!(mailbox, data),
            other => panic!("written string did not parse back: {other:?}"),
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(decode_utf7(&encode_utf7(s)).as_deref(), Some(s));
        for utf8 in [false, true] {
            let mut cmd = b"a SELECT ".to_vec();
            write_string(&mut cmd, to_wire(s, utf8).as_bytes(), utf8);
            let Ok(Command::Select { mailbox, .. }) = parse_command(&cmd).map(|r| r.command) else {
                panic!("listed name did not parse back: {cmd:?}");
            };
            assert_eq!(from_wire(&mailbox, utf8).as_deref(), Some(s), "utf8={utf8}");
        }
        let mut line = Vec::new();
        Reply::bad(sanitize(s)).with_code("X").write("a", &mut line);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\r\n") && !line[..line.len() - 2].contains(&b'\r'));
    }
    if data.len() >= 8 {
        let secs = i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        // Years 0..=9999, the range an INTERNALDATE can spell.
        let secs = secs.rem_euclid(253_402_300_800 + 62_167_219_200) - 62_167_219_200;
        if let Some(d) = chrono::DateTime::from_timestamp(secs, 0) {
            let cmd = format!("a APPEND INBOX {} {{1}}\r\nx", internal_date(&d));
            match parse_command(cmd.as_bytes()).map(|r| r.command) {
                Ok(Command::Append {
                    date: Some(back), ..
                }) => {
                    assert_eq!(back.timestamp(), secs, "{cmd:?}")
                }
                other => panic!("INTERNALDATE did not parse back: {cmd:?} {other:?}"),
            }
        }
    }
    let mut uids: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).max(1))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    if !uids.is_empty() {
        let cmd = format!("a UID FETCH {} UID", compress_set(&uids));
        let Ok(Command::Fetch { set, .. }) = parse_command(cmd.as_bytes()).map(|r| r.command)
        else {
            panic!("set did not parse back: {cmd}");
        };
        let mut back = Vec::new();
        for (a, b) in set.0 {
            let (SeqBound::Num(a), SeqBound::Num(b)) = (a, b) else {
                panic!("unexpected *");
            };
            back.extend(a..=b);
        }
        assert_eq!(back, uids);
    }
});
