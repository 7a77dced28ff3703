//! The DATA reader: removes dot-stuffing (RFC 5321 4.5.2) and finds the
//! terminating `<CRLF>.<CRLF>`, chunk by chunk, with a size limit.
//!
//! Only CRLF ends a line: a bare LF or CR is message content, so `\n.\r\n` is not
//! a terminator (no SMTP smuggling through differing line-end rules). The CRLF
//! before the terminating dot belongs to the message; a message of zero bytes is
//! `.\r\n` right after DATA.

/// Where the scanner is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (also the start of the data).
    LineStart,
    /// Inside a line.
    Middle,
    /// Just after a CR inside a line (already emitted).
    Cr,
    /// After a '.' at the start of a line (held back).
    Dot,
    /// After ".\r" at the start of a line (both held back).
    DotCr,
    /// The terminator was seen.
    Done,
}

/// Dot-unstuffing scanner with a byte limit.
#[derive(Debug)]
pub struct DotUnstuffer {
    state: State,
    limit: usize,
    /// Bytes of message content seen, counting those not kept after the limit.
    seen: u64,
    overflow: bool,
}

/// What one call to [`DotUnstuffer::feed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Input bytes consumed (everything, unless the terminator ended the data early).
    pub consumed: usize,
    /// The terminator was reached; input past `consumed` is the next command.
    pub done: bool,
}

impl DotUnstuffer {
    /// `limit`: content beyond this many bytes is counted but not kept.
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::LineStart,
            limit,
            seen: 0,
            overflow: false,
        }
    }

    /// True once the content exceeded the limit (what was kept is then incomplete).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Total content bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        if self.overflow {
            return;
        }
        if out.len() + bytes.len() > self.limit {
            self.overflow = true;
            // Free what was buffered: the message will be refused.
            out.clear();
            out.shrink_to_fit();
            return;
        }
        out.extend_from_slice(bytes);
    }

    /// Scan `input`, appending unstuffed content to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Fed {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => {
                    return Fed {
                        consumed: i,
                        done: true,
                    }
                }
                State::Middle => {
                    // Fast path: copy up to the next CR in one go.
                    match memchr::memchr(b'\r', &input[i..]) {
                        Some(off) => {
                            self.emit(out, &input[i..i + off + 1]);
                            i += off + 1;
                            self.state = State::Cr;
                        }
                        None => {
                            self.emit(out, &input[i..]);
                            i = input.len();
                        }
                    }
                }
                State::LineStart => {
                    let b = input[i];
                    i += 1;
                    self.state = match b {
                        b'.' => State::Dot,
                        b'\r' => {
                            self.emit(out, b"\r");
                            State::Cr
                        }
                        _ => {
                            self.emit(out, &[b]);
                            State::Middle
                        }
                    };
                }
                State::Cr => {
                    let b = input[i];
                    i += 1;
                    self.emit(out, &[b]);
                    self.state = match b {
                        b'\n' => State::LineStart,
                        b'\r' => State::Cr,
                        _ => State::Middle,
                    };
                }
                State::Dot => {
                    let b = input[i];
                    i += 1;
                    // The leading dot is dropped whatever follows it.
                    self.state = match b {
                        b'\r' => State::DotCr,
                        _ => {
                            self.emit(out, &[b]);
                            State::Middle
                        }
                    };
                }
                State::DotCr => {
                    let b = input[i];
                    if b == b'\n' {
                        i += 1;
                        self.state = State::Done;
                    } else {
                        // ".\rX": the dot was stuffing, the CR is content; X is read
                        // as the byte after a CR.
                        self.emit(out, b"\r");
                        self.state = State::Cr;
                    }
                }
            }
        }
        Fed {
            consumed: i,
            done: self.state == State::Done,
        }
    }
}

/// Dot-stuff a message for sending (the inverse of [`DotUnstuffer`]), appending
/// the terminator. Content not ending in CRLF gets one before the final dot.
pub fn dot_stuff(message: &[u8], out: &mut Vec<u8>) {
    let mut line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = prev == b'\r' && b == b'\n';
        prev = b;
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// The slowest DATA a client may send, in bytes per second: beyond the base timeout a
/// message may take the time its bytes need at this rate, so a client dripping a byte
/// at a time cannot hold a connection for ever.
pub const MIN_DATA_RATE: u64 = 16 * 1024;

/// The time `received` bytes of DATA may take beyond the base timeout.
pub fn data_allowance(received: u64) -> std::time::Duration {
    std::time::Duration::from_millis(received.saturating_mul(1000) / MIN_DATA_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstuff_chunks(chunks: &[&[u8]], limit: usize) -> (Vec<u8>, Fed, bool) {
        let mut d = DotUnstuffer::new(limit);
        let mut out = Vec::new();
        let mut last = Fed {
            consumed: 0,
            done: false,
        };
        for c in chunks {
            last = d.feed(c, &mut out);
            if last.done {
                break;
            }
        }
        (out, last, d.overflowed())
    }

    fn unstuff(all: &[u8]) -> (Vec<u8>, Fed) {
        let (o, f, _) = unstuff_chunks(&[all], usize::MAX);
        (o, f)
    }

    #[test]
    fn terminator_and_unstuffing() {
        assert_eq!(unstuff(b".\r\n").0, b"");
        assert_eq!(unstuff(b"a\r\n.\r\nQUIT\r\n").0, b"a\r\n");
        assert_eq!(unstuff(b"a\r\n.\r\nQUIT\r\n").1.consumed, 6);
        assert_eq!(unstuff(b"..\r\n.\r\n").0, b".\r\n");
        assert_eq!(unstuff(b"..x\r\n...\r\n.\r\n").0, b".x\r\n..\r\n");
        assert_eq!(unstuff(b"a.b\r\n.\r\n").0, b"a.b\r\n");
        // Bare LF is content: "\n.\r\n" does not end the data.
        let (o, f) = unstuff(b"a\n.\r\nb\r\n.\r\n");
        assert!(f.done);
        assert_eq!(o, b"a\n.\r\nb\r\n");
        // ".\rX" at a line start: the dot is stuffing, "\rX" is content.
        assert_eq!(unstuff(b".\rX\r\n.\r\n").0, b"\rX\r\n");
        assert_eq!(unstuff(b".\r.\r\n.\r\n").0, b"\r.\r\n");
        assert_eq!(unstuff(b"\r\r\n.\r\n").0, b"\r\r\n");
        assert!(!unstuff(b"a\r\n.\r").1.done);
        assert!(!unstuff(b"a\r\n.").1.done);
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input = b"Subject: x\r\n\r\n..dots\r\n.\r\r\n\r\n.x\n.\r\n\r\n.\r\nNEXT";
        let (whole, f) = unstuff(input);
        let mut d = DotUnstuffer::new(usize::MAX);
        let mut out = Vec::new();
        let mut consumed = 0;
        for (i, b) in input.iter().enumerate() {
            let r = d.feed(std::slice::from_ref(b), &mut out);
            if r.done {
                consumed = i + r.consumed;
                break;
            }
        }
        assert_eq!(out, whole);
        assert_eq!(consumed, f.consumed);
        assert_eq!(&input[consumed..], b"NEXT");
    }

    #[test]
    fn limit_drains_the_rest() {
        let (out, fed, over) = unstuff_chunks(&[b"0123456789\r\n", b"abc\r\n.\r\nX"], 8);
        assert!(over && fed.done && out.is_empty());
        let (out, _, over) = unstuff_chunks(&[b"0123\r\n.\r\n"], 6);
        assert!(!over);
        assert_eq!(out, b"0123\r\n");
    }

    /// Inputs over the alphabet that matters, split at pseudo-random points: the
    /// result never depends on the chunking, and stuffing round-trips.
    #[test]
    fn random_inputs_chunk_independently() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| [b'.', b'\r', b'\n', b'a'][(next() % 4) as usize])
                .collect();
            let (whole, fed) = unstuff(&input);
            let mut d = DotUnstuffer::new(usize::MAX);
            let mut out = Vec::new();
            let mut start = 0;
            let mut done_at = None;
            while start < input.len() {
                let end = (start + 1 + (next() % 5) as usize).min(input.len());
                let r = d.feed(&input[start..end], &mut out);
                if r.done {
                    done_at = Some(start + r.consumed);
                    break;
                }
                start = end;
            }
            assert_eq!(out, whole, "{input:?}");
            assert_eq!(done_at, fed.done.then_some(fed.consumed), "{input:?}");
            let mut wire = Vec::new();
            dot_stuff(&input, &mut wire);
            let (back, fed) = unstuff(&wire);
            assert!(fed.done && fed.consumed == wire.len());
            let mut expected = input.clone();
            if !input.is_empty() && !input.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(back, expected, "{input:?}");
        }
    }

    #[test]
    fn stuffing_round_trips() {
        for msg in [
            &b""[..],
            b"a\r\n",
            b".\r\n",
            b"..\r\n.\r\n",
            b"x\r\n.\r\n.y\r\n",
            b"a\n.b\r\n",
            b"no newline",
            b".starts with dot\r\n",
            b"\r\n.\r\n\r\n",
        ] {
            let mut wire = Vec::new();
            dot_stuff(msg, &mut wire);
            let (back, fed) = unstuff(&wire);
            assert!(fed.done);
            assert_eq!(fed.consumed, wire.len());
            let mut expected = msg.to_vec();
            if !msg.is_empty() && !msg.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(back, expected, "{msg:?}");
        }
    }
}
