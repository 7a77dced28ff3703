//! Dot-stuffing round-trips any content split at any point, and the TOP filter
//! never emits more than its input.
#![no_main]

use eider_pop3::dotstuff::{DotStuffer, TopFilter, TERMINATOR};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, msg)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(msg.len());
    let mut stuffer = DotStuffer::new();
    let mut out = Vec::new();
    stuffer.push(&msg[..cut], &mut out);
    stuffer.push(&msg[cut..], &mut out);
    stuffer.finish(&mut out);

    let body = out.strip_suffix(TERMINATOR).expect("terminator");
    let mut back = Vec::new();
    let mut start = true;
    for &b in body {
        if start && b == b'.' {
            start = false;
            continue;
        }
        back.push(b);
        start = b == b'\n';
    }
    let mut expected = msg.to_vec();
    if !msg.is_empty() && msg.last() != Some(&b'\n') {
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(back, expected);

    let mut top = TopFilter::new(u64::from(split % 4));
    let first = top.take(&msg[..cut]).len();
    assert!(first <= cut);
    if first == cut && !top.is_done() {
        assert!(top.take(&msg[cut..]).len() <= msg.len() - cut);
    }
});
