//! Multi-line responses (RFC 1939 section 3): every line that begins with "." gets an
//! extra "." and the response ends with a line holding a single ".". The message bytes
//! are sent as stored (byte-exact, so LIST sizes stay true); a line is whatever ends
//! in LF. When the content does not end with a line ending, CRLF is added before the
//! terminating line.

use memchr::memchr;

/// The terminating line of a multi-line response.
pub const TERMINATOR: &[u8] = b".\r\n";

/// A streaming byte-stuffer: feed chunks in order, then [`DotStuffer::finish`].
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotStuffer {
    pub fn new() -> Self {
        Self {
            at_line_start: true,
        }
    }

    /// Append `input`, dot-stuffed, to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 8);
        while !input.is_empty() {
            if self.at_line_start && input[0] == b'.' {
                out.push(b'.');
            }
            match memchr(b'\n', input) {
                Some(i) => {
                    out.extend_from_slice(&input[..=i]);
                    input = &input[i + 1..];
                    self.at_line_start = true;
                }
                None => {
                    out.extend_from_slice(input);
                    self.at_line_start = false;
                    return;
                }
            }
        }
    }

    /// End the response: CRLF if the content's last line is unterminated, then ".\r\n".
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(TERMINATOR);
    }
}

/// Cuts a message down to what TOP sends: the header, the blank line after it, and at
/// most `lines` lines of the body. Feed chunks in order; it reports when it needs no more.
#[derive(Debug, Clone)]
pub struct TopFilter {
    in_header: bool,
    at_line_start: bool,
    /// A CR at a line start ended the last chunk: a blank line if LF follows.
    pending_cr: bool,
    /// Body lines still to send.
    lines_left: u64,
    done: bool,
}

impl TopFilter {
    pub fn new(lines: u64) -> Self {
        Self {
            in_header: true,
            at_line_start: true,
            pending_cr: false,
            lines_left: lines,
            done: false,
        }
    }

    /// True once everything TOP sends has been produced.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The prefix of `input` that belongs in the answer (possibly all of it, or none).
    pub fn take<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        let mut pos = 0;
        while pos < input.len() && !self.done {
            if self.in_header {
                if self.pending_cr {
                    // The previous chunk ended with a CR at a line start.
                    self.pending_cr = false;
                    if input[pos] == b'\n' {
                        pos += 1;
                        self.end_header();
                        continue;
                    }
                    self.at_line_start = false;
                } else if self.at_line_start {
                    // A line that is empty (LF or CRLF alone) ends the header.
                    match (input[pos], input.get(pos + 1)) {
                        (b'\n', _) => {
                            pos += 1;
                            self.end_header();
                            continue;
                        }
                        (b'\r', Some(b'\n')) => {
                            pos += 2;
                            self.end_header();
                            continue;
                        }
                        (b'\r', None) => {
                            pos += 1;
                            self.pending_cr = true;
                            continue;
                        }
                        _ => {}
                    }
                }
                match memchr(b'\n', &input[pos..]) {
                    Some(i) => {
                        pos += i + 1;
                        self.at_line_start = true;
                    }
                    None => {
                        pos = input.len();
                        self.at_line_start = false;
                    }
                }
            } else {
                match memchr(b'\n', &input[pos..]) {
                    Some(i) => {
                        pos += i + 1;
                        self.lines_left = self.lines_left.saturating_sub(1);
                        if self.lines_left == 0 {
                            self.done = true;
                        }
                    }
                    None => pos = input.len(),
                }
            }
        }
        &input[..pos]
    }

    fn end_header(&mut self) {
        self.in_header = false;
        if self.lines_left == 0 {
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = DotStuffer::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    /// What a client does: strip the terminator and one leading dot per line.
    fn unstuff(data: &[u8]) -> Vec<u8> {
        let body = data.strip_suffix(TERMINATOR).expect("terminator");
        let mut out = Vec::new();
        let mut start = true;
        for &b in body {
            if start && b == b'.' {
                start = false;
                continue;
            }
            out.push(b);
            start = b == b'\n';
        }
        out
    }

    #[test]
    fn stuffs_leading_dots() {
        assert_eq!(stuff(&[b"a\r\n.b\r\n"]), b"a\r\n..b\r\n.\r\n");
        assert_eq!(stuff(&[b".\r\n"]), b"..\r\n.\r\n");
        assert_eq!(stuff(&[b"..x\r\n"]), b"...x\r\n.\r\n");
        assert_eq!(stuff(&[b"a.b\r\n"]), b"a.b\r\n.\r\n");
    }

    #[test]
    fn lone_dot_line_in_the_middle() {
        assert_eq!(
            stuff(&[b"Subject: x\r\n\r\nhi\r\n.\r\nbye\r\n"]),
            b"Subject: x\r\n\r\nhi\r\n..\r\nbye\r\n.\r\n"
        );
    }

    #[test]
    fn unterminated_last_line_gets_crlf() {
        assert_eq!(stuff(&[b"a\r\nb"]), b"a\r\nb\r\n.\r\n");
        assert_eq!(stuff(&[b"a\r\n."]), b"a\r\n..\r\n.\r\n");
        assert_eq!(stuff(&[b"a\r"]), b"a\r\r\n.\r\n");
    }

    #[test]
    fn empty_message() {
        assert_eq!(stuff(&[]), b".\r\n");
        assert_eq!(stuff(&[b""]), b".\r\n");
    }

    #[test]
    fn bare_lf_lines_are_lines_too() {
        assert_eq!(stuff(&[b"a\n.b\n"]), b"a\n..b\n.\r\n");
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let msg: &[u8] = b".start\r\nline\r\n.\r\n..two\r\nx.\r\n\r\n.end";
        let whole = stuff(&[msg]);
        for split in 0..=msg.len() {
            let (a, b) = msg.split_at(split);
            assert_eq!(stuff(&[a, b]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = msg.chunks(1).collect();
        assert_eq!(stuff(&bytes), whole);
        let mut expected = msg.to_vec();
        expected.extend_from_slice(b"\r\n");
        assert_eq!(unstuff(&whole), expected);
    }

    #[test]
    fn round_trips_arbitrary_content() {
        let mut seed: u64 = 42;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let alphabet = b".\r\na";
            let msg: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 60)) as usize ^ i) % alphabet.len()])
                .collect();
            let out = stuff(&[&msg]);
            let mut expected = msg.clone();
            if !msg.is_empty() && msg.last() != Some(&b'\n') {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(unstuff(&out), expected, "{msg:?}");
            // No line of the body is a lone "." before the terminator.
            let body = &out[..out.len() - TERMINATOR.len()];
            assert!(!body.starts_with(b".\r\n") && !body.windows(4).any(|w| w == b"\n.\r\n"));
        }
    }

    fn top(msg: &[u8], lines: u64, chunk: usize) -> Vec<u8> {
        let mut f = TopFilter::new(lines);
        let mut out = Vec::new();
        for c in msg.chunks(chunk.max(1)) {
            if f.is_done() {
                break;
            }
            out.extend_from_slice(f.take(c));
        }
        out
    }

    #[test]
    fn top_sends_header_blank_line_and_n_lines() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        for chunk in 1..=msg.len() {
            assert_eq!(top(msg, 0, chunk), b"A: 1\r\nB: 2\r\n\r\n", "chunk {chunk}");
            assert_eq!(top(msg, 1, chunk), b"A: 1\r\nB: 2\r\n\r\nl1\r\n");
            assert_eq!(top(msg, 2, chunk), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
            assert_eq!(top(msg, 3, chunk), msg);
            assert_eq!(top(msg, 99, chunk), msg);
        }
    }

    #[test]
    fn top_without_body_or_with_bare_lf() {
        assert_eq!(top(b"A: 1\r\nB: 2\r\n", 5, 3), b"A: 1\r\nB: 2\r\n");
        assert_eq!(top(b"A: 1\n\nx\ny\n", 1, 2), b"A: 1\n\nx\n");
        assert_eq!(top(b"A: 1\r\n\r\nlast", 1, 4), b"A: 1\r\n\r\nlast");
        assert_eq!(top(b"\r\nbody\r\nmore\r\n", 1, 1), b"\r\nbody\r\n");
    }
}
