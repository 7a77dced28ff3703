//! Streaming re-encoding of a blob into the exact bytes of the raw message.
//!
//! Contract (for `BlobEncoding::Base64 { line_len: L, .. }`, L a multiple of 4):
//! - The encoder starts at decoded offset `decoded_start`, which must be a line
//!   boundary of the encoded form: a multiple of `L / 4 * 3` (what
//!   [`Layout::plan`](super::Layout::plan) produces). Its first output byte is the
//!   first character of that line.
//! - Feed the following decoded bytes with [`Encoder::push`], in chunks of any size.
//!   Output is produced as soon as it is determined: every complete 3-byte group is
//!   encoded, and a line break follows each complete line that is not the last.
//!   When the input reaches `decoded_len`, the final (padded) group and the final
//!   line break (if `final_newline`) are emitted at once. Input past
//!   `decoded_len` is ignored.
//! - So after feeding `decoded[decoded_start..d]`, the output is exactly the raw
//!   bytes from the start of the line up to the end of the last complete group
//!   (plus that line's break when the group ends a non-last line), or up to the end
//!   of the blob when `d == decoded_len`.
//! - [`Encoder::finish`] with `at_blob_end == false` drops a pending partial group
//!   and emits nothing. With `at_blob_end == true` it emits nothing when the input
//!   reached `decoded_len`; if it did not (a short blob), it ends the encoding
//!   there, padding the partial group and adding the final line break, which the
//!   caller detects as a length mismatch.
//!
//! `Identity` copies its input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{effective_line_len, BlobEncoding};

/// Streaming encoder for a blob piece: feed decoded bytes, get raw bytes.
pub struct Encoder {
    state: State,
}

enum State {
    Identity,
    Base64(Base64State),
}

struct Base64State {
    line_len: u64,
    newline: &'static [u8],
    final_newline: bool,
    decoded_len: u64,
    /// Decoded bytes taken so far (absolute), pending ones included.
    pos: u64,
    /// Characters on the current line.
    col: u64,
    /// Characters emitted so far (absolute, line breaks excluded).
    chars: u64,
    total_chars: u64,
    pending: [u8; 3],
    npending: usize,
    done: bool,
}

impl Encoder {
    /// An encoder for `encoding`, positioned at decoded offset `decoded_start`
    /// (as given by a [`Piece::Blob`](super::Piece::Blob)) of a blob of `decoded_len` bytes.
    pub fn new(encoding: BlobEncoding, decoded_len: u64, decoded_start: u64) -> Self {
        let state = match encoding {
            BlobEncoding::Identity => State::Identity,
            BlobEncoding::Base64 {
                line_len,
                crlf,
                final_newline,
            } => {
                let line_len = effective_line_len(line_len);
                debug_assert_eq!(decoded_start % (line_len / 4 * 3), 0);
                let chars = decoded_start / 3 * 4;
                State::Base64(Base64State {
                    line_len,
                    newline: if crlf { b"\r\n" } else { b"\n" },
                    final_newline,
                    decoded_len,
                    pos: decoded_start,
                    col: chars % line_len,
                    chars,
                    total_chars: decoded_len.div_ceil(3) * 4,
                    pending: [0; 3],
                    npending: 0,
                    done: decoded_start >= decoded_len,
                })
            }
        };
        Self { state }
    }

    /// Encode `input` (the next decoded bytes) and append the raw bytes to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match &mut self.state {
            State::Identity => out.extend_from_slice(input),
            State::Base64(s) => s.push(input, out),
        }
    }

    /// Flush what is pending; `at_blob_end` tells whether the input reached the blob's end.
    pub fn finish(self, at_blob_end: bool, out: &mut Vec<u8>) {
        if let State::Base64(mut s) = self.state {
            if at_blob_end && !s.done {
                s.tail(out);
            }
        }
    }
}

impl Base64State {
    /// Account for `n` characters just written; break the line when it is full.
    fn advance(&mut self, n: u64, out: &mut Vec<u8>) {
        self.col += n;
        self.chars += n;
        if self.col >= self.line_len {
            self.col = 0;
            if self.chars < self.total_chars {
                out.extend_from_slice(self.newline);
            }
        }
    }

    /// Encode whole groups (`bytes.len()` a multiple of 3, fitting on the line).
    fn encode(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let n = bytes.len().div_ceil(3) * 4;
        out.resize(start + n, 0);
        if STANDARD.encode_slice(bytes, &mut out[start..]).is_err() {
            out.truncate(start);
            return;
        }
        self.advance(n as u64, out);
    }

    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        let room = self.decoded_len - self.pos;
        let input = &input[..input.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        self.pos += input.len() as u64;
        let mut i = 0;
        if self.npending > 0 {
            while self.npending < 3 && i < input.len() {
                self.pending[self.npending] = input[i];
                self.npending += 1;
                i += 1;
            }
            if self.npending == 3 {
                let group = self.pending;
                self.npending = 0;
                self.encode(&group, out);
            }
        }
        while input.len() - i >= 3 {
            let groups_on_line = ((self.line_len - self.col) / 4).max(1) as usize;
            let groups = groups_on_line.min((input.len() - i) / 3);
            self.encode(&input[i..i + groups * 3], out);
            i += groups * 3;
        }
        for &b in &input[i..] {
            self.pending[self.npending] = b;
            self.npending += 1;
        }
        if self.pos == self.decoded_len {
            self.tail(out);
        }
    }

    /// The end of the encoding: the padded partial group, then the final line break.
    fn tail(&mut self, out: &mut Vec<u8>) {
        if self.npending > 0 {
            let group = self.pending;
            let n = self.npending;
            self.npending = 0;
            // Treat it as the last group whatever `pos` says (short blob).
            self.total_chars = self.chars + 4;
            self.encode(&group[..n], out);
        }
        if self.final_newline {
            out.extend_from_slice(self.newline);
        }
        self.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(data: &[u8], e: BlobEncoding, chunk: usize) -> Vec<u8> {
        let mut en = Encoder::new(e, data.len() as u64, 0);
        let mut out = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            en.push(c, &mut out);
        }
        en.finish(true, &mut out);
        out
    }

    fn reference(data: &[u8], line: usize, nl: &str, final_nl: bool) -> Vec<u8> {
        let s = STANDARD.encode(data);
        let mut lines: Vec<&str> = Vec::new();
        let mut rest = s.as_str();
        while !rest.is_empty() {
            let (a, b) = rest.split_at(line.min(rest.len()));
            lines.push(a);
            rest = b;
        }
        let mut out = lines.join(nl);
        if final_nl && !data.is_empty() {
            out.push_str(nl);
        }
        out.into_bytes()
    }

    #[test]
    fn matches_reference_for_all_shapes() {
        for len in [0usize, 1, 2, 3, 4, 56, 57, 58, 100, 171, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            for line in [4usize, 60, 64, 72, 76] {
                for crlf in [false, true] {
                    for final_newline in [false, true] {
                        let e = BlobEncoding::Base64 {
                            line_len: line as u32,
                            crlf,
                            final_newline,
                        };
                        let want =
                            reference(&data, line, if crlf { "\r\n" } else { "\n" }, final_newline);
                        assert_eq!(e.encoded_len(len as u64), want.len() as u64);
                        for chunk in [1, 2, 3, 5, 57, 4096] {
                            assert_eq!(
                                enc(&data, e, chunk),
                                want,
                                "len {len} line {line} chunk {chunk}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn partial_stop_emits_complete_groups_only() {
        let data: Vec<u8> = (0..100u8).collect();
        let e = BlobEncoding::Base64 {
            line_len: 8,
            crlf: true,
            final_newline: true,
        };
        let full = enc(&data, e, 100);
        // From the second line (decoded offset 6), feed 7 bytes and stop early.
        let mut en = Encoder::new(e, 100, 6);
        let mut out = Vec::new();
        en.push(&data[6..13], &mut out);
        en.finish(false, &mut out);
        // Two complete groups fill line 2 (8 chars) plus its break; the 7th byte is dropped.
        assert_eq!(out, &full[10..20]);
    }
}
