//! The response writer and the parser agree: any string written by the server
//! (quoted or literal) parses back to the same bytes, and any UID list written
//! as a set parses back to the same UIDs.
#![no_main]

use eider_imap::mailbox_names::{decode_utf7, encode_utf7};
use eider_imap::parser::{parse_command, Command, SeqBound};
use eider_imap::response::{compress_set, write_string};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for utf8 in [false, true] {
        let mut cmd = b"a SELECT ".to_vec();
        write_string(&mut cmd, data, utf8);
        cmd.extend_from_slice(b"\r\n");
        match parse_command(&cmd).map(|r| r.command) {
            Ok(Command::Select { mailbox, .. }) => assert_eq!(mailbox, data),
            other => panic!("written string did not parse back: {other:?}"),
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(decode_utf7(&encode_utf7(s)).as_deref(), Some(s));
    }
    let mut uids: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).max(1))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    if !uids.is_empty() {
        let cmd = format!("a UID FETCH {} UID", compress_set(&uids));
        let Ok(Command::Fetch { set, .. }) = parse_command(cmd.as_bytes()).map(|r| r.command) else {
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
