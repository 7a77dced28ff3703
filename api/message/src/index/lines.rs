//! A forward-only line cursor over the raw message that also counts line feeds.
//!
//! The MIME parser walks the message exactly once, line by line; counting LFs
//! as it goes gives every part its line count without a second pass (which
//! would cost O(size × depth) on deeply nested input).

/// One line of the raw message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// Offset of the first byte.
    pub start: usize,
    /// End of the content: before the `\r\n` or `\n` terminator (or at EOF).
    pub content_end: usize,
    /// Start of the next line (after the LF, or EOF).
    pub next: usize,
    /// Whether the line ends with an LF (false only for a last line at EOF).
    pub has_lf: bool,
}

pub(crate) struct Cursor<'a> {
    raw: &'a [u8],
    pos: usize,
    /// Number of LF bytes in `raw[..pos]`.
    lfs: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        Self {
            raw,
            pos: 0,
            lfs: 0,
        }
    }

    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Current position: always the start of a line (or EOF).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// LFs before the current position.
    pub fn lfs(&self) -> u64 {
        self.lfs
    }

    pub fn at_eof(&self) -> bool {
        self.pos >= self.raw.len()
    }

    /// The line at the current position, without consuming it.
    pub fn peek(&self) -> Option<Line> {
        if self.at_eof() {
            return None;
        }
        let start = self.pos;
        Some(match memchr::memchr(b'\n', &self.raw[start..]) {
            Some(i) => {
                let lf = start + i;
                let content_end = if lf > start && self.raw[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                Line {
                    start,
                    content_end,
                    next: lf + 1,
                    has_lf: true,
                }
            }
            None => Line {
                start,
                content_end: self.raw.len(),
                next: self.raw.len(),
                has_lf: false,
            },
        })
    }

    /// Consume `line`, which must be the one [`peek`](Self::peek) returned.
    pub fn advance(&mut self, line: &Line) {
        debug_assert_eq!(line.start, self.pos);
        self.pos = line.next;
        if line.has_lf {
            self.lfs += 1;
        }
    }

    /// Jump to the end of the message, counting the line feeds on the way.
    pub fn skip_to_end(&mut self) {
        let rest = &self.raw[self.pos.min(self.raw.len())..];
        self.lfs += memchr::memchr_iter(b'\n', rest).count() as u64;
        self.pos = self.raw.len();
    }

    /// Content of a line.
    pub fn content(&self, line: &Line) -> &'a [u8] {
        &self.raw[line.start..line.content_end]
    }

    /// Where a delimiter that begins with the line at `line_start` really starts,
    /// and the LF count there: the line break before a boundary line belongs to the
    /// boundary (RFC 2046 5.1.1), unless it lies before `floor` (outside the body).
    pub fn delimiter_start(
        &self,
        line_start: usize,
        lfs_at_line: u64,
        floor: usize,
    ) -> (usize, u64) {
        if line_start > floor && line_start > 0 && self.raw[line_start - 1] == b'\n' {
            let cr =
                line_start >= 2 && line_start - 2 >= floor && self.raw[line_start - 2] == b'\r';
            (line_start - if cr { 2 } else { 1 }, lfs_at_line - 1)
        } else {
            (line_start, lfs_at_line)
        }
    }
}
