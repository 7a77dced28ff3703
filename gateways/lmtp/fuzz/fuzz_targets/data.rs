//! The DATA reader over any input split at any points: the result does not depend
//! on how the input was chunked, the limit holds, and stuffing round-trips.
#![no_main]

use eider_lmtp::data::{dot_stuff, DotUnstuffer};
use libfuzzer_sys::fuzz_target;

fn run(input: &[u8], cuts: &[usize], limit: usize) -> (Vec<u8>, Option<usize>, bool) {
    let mut d = DotUnstuffer::new(limit);
    let mut out = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    points.push(input.len());
    for end in points {
        if end < start {
            continue;
        }
        let fed = d.feed(&input[start..end], &mut out);
        if fed.done {
            return (out, Some(start + fed.consumed), d.overflowed());
        }
        start = end;
    }
    (out, None, d.overflowed())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limit = usize::from(data[0]) * 16;
    let cuts: Vec<usize> = data[1..4].iter().map(|b| usize::from(*b) * 7).collect();
    let input = &data[4..];

    let whole = run(input, &[], usize::MAX);
    let chunked = run(input, &cuts, usize::MAX);
    assert_eq!(whole, chunked);
    if let Some(end) = whole.1 {
        assert!(input[..end].ends_with(b".\r\n"));
    }

    let limited = run(input, &cuts, limit);
    assert!(limited.0.len() <= limit);
    assert_eq!(limited.1, whole.1);
    if !limited.2 {
        assert_eq!(limited.0, whole.0);
    }

    // Stuffing then unstuffing gives back the content (CRLF-terminated).
    let mut wire = Vec::new();
    dot_stuff(input, &mut wire);
    let back = run(&wire, &cuts, usize::MAX);
    assert_eq!(back.1, Some(wire.len()));
    let mut expected = input.to_vec();
    if !input.is_empty() && !input.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(back.0, expected);
});
