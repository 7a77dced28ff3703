//! Any bytes: framing and parsing never panic, and a parsed command's
//! mailbox-name decoding and section rendering never panic either.
#![no_main]

use eider_imap::mailbox_names::{from_wire, Pattern};
use eider_imap::parser::framing::{literal_at_end, peek_tag_and_name};
use eider_imap::parser::{parse_command, Command, FetchAtt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let _ = literal_at_end(line);
        let _ = peek_tag_and_name(line);
    }
    if let Ok(req) = parse_command(data) {
        match req.command {
            Command::Select { mailbox, .. } | Command::Delete(mailbox) => {
                let _ = from_wire(&mailbox, false);
                let _ = from_wire(&mailbox, true);
            }
            Command::List(l) => {
                for p in &l.patterns {
                    if let Some(p) = from_wire(p, false) {
                        let _ = Pattern::new("", &p).matches("INBOX/a/b");
                    }
                }
            }
            Command::Fetch { items, .. } => {
                for i in items {
                    if let FetchAtt::BodySection { section, .. } = i {
                        let _ = section.render();
                    }
                }
            }
            _ => {}
        }
    }
});
