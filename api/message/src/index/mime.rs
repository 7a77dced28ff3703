//! The MIME tree: one forward pass over the raw message, with absolute offsets.
//!
//! Boundary handling follows RFC 2046 5.1 as Dovecot implements it, because
//! BODYSTRUCTURE sizes and line counts must agree with what IMAP clients have
//! seen from mainstream servers:
//! - a delimiter is a line starting with `--` followed by the boundary of the
//!   multipart *or of any enclosing one* (a prefix match; the longest active
//!   boundary wins), `--` after it closes the multipart;
//! - the line break before a delimiter belongs to the delimiter, so a part's
//!   body ends before it (`body_end` excludes that CRLF/LF);
//! - the rest of a delimiter line (transport padding) is skipped; preamble and
//!   epilogue belong to the multipart's body;
//! - a boundary line inside a part's header ends the header (the part has no body);
//! - missing final boundaries, missing boundaries and truncated input end parts
//!   at EOF; a multipart whose boundary never appears has no children.
//!
//! message/rfc822 parts are parsed as messages in place (like Dovecot, whatever
//! their transfer encoding). Containers deeper than the depth limit are kept as
//! opaque leaves; past [`MAX_PARTS`] parts, further delimiters are ignored.
//! Nothing here fails: every byte belongs to some part.

use super::content::{part_header, PartHeader};
use super::envelope::envelope;
use super::fields::split_fields;
use super::lines::Cursor;
use crate::index::{BodyPart, Envelope, PartKind};

/// Nesting that is never descended into regardless of options: the parser and
/// renderers recurse once per level, and must stay well within a 2 MiB thread stack.
pub(crate) const HARD_MAX_DEPTH: usize = 256;

/// Most parts indexed in one message (Dovecot's default limit too): a message of
/// a million empty parts must not cost a million `BodyPart`s. Delimiters past the
/// limit are skipped; their bytes stay in the enclosing multipart's body.
pub(crate) const MAX_PARTS: usize = 10_000;

/// Where scanning stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Eof,
    /// The cursor is at a delimiter line of `boundaries[idx]` (not consumed).
    Boundary {
        idx: usize,
        close: bool,
    },
}

pub(crate) struct Parser<'a> {
    cur: Cursor<'a>,
    /// Boundaries of the open multiparts, outermost first.
    boundaries: Vec<Vec<u8>>,
    max_depth: usize,
    /// Parts created so far.
    parts: usize,
}

/// How a part's header section ended.
enum HeaderEnd {
    /// An empty line (consumed); the body follows.
    Blank,
    /// A delimiter line: the part has an empty body.
    Boundary(Stop),
    Eof,
}

impl<'a> Parser<'a> {
    pub fn new(raw: &'a [u8], max_depth: usize) -> Self {
        Self {
            cur: Cursor::new(raw),
            boundaries: Vec::new(),
            max_depth: max_depth.min(HARD_MAX_DEPTH),
            parts: 0,
        }
    }

    /// Parse the whole message into its root part.
    pub fn parse(mut self) -> BodyPart {
        let (root, _) = self.entity(0, false);
        root
    }

    /// Is `content` (a line without its terminator) a delimiter of an open multipart?
    fn match_boundary(&self, content: &[u8]) -> Option<Stop> {
        let rest = content.strip_prefix(b"--")?;
        let mut find = rest.len();
        if find > 2 && rest.ends_with(b"--") {
            find -= 2;
        }
        let mut best: Option<usize> = None;
        for (idx, b) in self.boundaries.iter().enumerate().rev() {
            if b.len() <= find
                && rest.starts_with(b)
                && best.is_none_or(|i| self.boundaries[i].len() < b.len())
            {
                best = Some(idx);
                if b.len() == find {
                    break;
                }
            }
        }
        let idx = best?;
        let blen = self.boundaries[idx].len();
        let close = rest.len() >= blen + 2 && &rest[blen..blen + 2] == b"--";
        Some(Stop::Boundary { idx, close })
    }

    /// Advance line by line to the next delimiter of any open multipart, or EOF.
    fn scan(&mut self) -> Stop {
        if self.boundaries.is_empty() {
            self.cur.skip_to_end();
            return Stop::Eof;
        }
        while let Some(line) = self.cur.peek() {
            let c = self.cur.content(&line);
            if c.starts_with(b"--") {
                if let Some(stop) = self.match_boundary(c) {
                    return stop;
                }
            }
            self.cur.advance(&line);
        }
        Stop::Eof
    }

    /// Offset and LF count where the body ends for `stop`, given the body start.
    fn end_at(&self, stop: Stop, floor: usize) -> (usize, u64) {
        match stop {
            Stop::Eof => (self.cur.raw().len(), self.cur.lfs()),
            Stop::Boundary { .. } => {
                self.cur
                    .delimiter_start(self.cur.pos(), self.cur.lfs(), floor)
            }
        }
    }

    /// Consume the delimiter line at the cursor.
    fn consume_line(&mut self) {
        if let Some(line) = self.cur.peek() {
            self.cur.advance(&line);
        }
    }

    fn read_header(&mut self) -> HeaderEnd {
        while let Some(line) = self.cur.peek() {
            let c = self.cur.content(&line);
            if c.is_empty() {
                self.cur.advance(&line);
                return HeaderEnd::Blank;
            }
            if !self.boundaries.is_empty() && c.starts_with(b"--") {
                if let Some(stop) = self.match_boundary(c) {
                    return HeaderEnd::Boundary(stop);
                }
            }
            self.cur.advance(&line);
        }
        HeaderEnd::Eof
    }

    /// Parse one entity (header + body) starting at the cursor.
    fn entity(&mut self, depth: usize, in_digest: bool) -> (BodyPart, Stop) {
        self.parts += 1;
        let header_start = self.cur.pos();
        let header_end = self.read_header();
        let (body_start, body_start_lfs, early_stop) = match header_end {
            HeaderEnd::Blank => (self.cur.pos(), self.cur.lfs(), None),
            HeaderEnd::Eof => (self.cur.raw().len(), self.cur.lfs(), Some(Stop::Eof)),
            HeaderEnd::Boundary(stop) => {
                let (d, l) = self
                    .cur
                    .delimiter_start(self.cur.pos(), self.cur.lfs(), header_start);
                (d, l, Some(stop))
            }
        };
        let ph = {
            let raw = self.cur.raw();
            let fields = split_fields(&raw[header_start..body_start]);
            part_header(&fields, in_digest)
        };
        let descend = depth < self.max_depth;
        let is_multipart = ph.boundary.is_some() && descend;
        let is_message = ph.media_type == "message" && ph.media_subtype == "rfc822" && descend;

        let (kind, stop, body_end) = if let Some(stop) = early_stop {
            // No body at all: keep the declared structure, empty.
            let kind = if is_multipart {
                PartKind::Multipart(Vec::new())
            } else if is_message {
                PartKind::Message {
                    envelope: Box::new(Envelope::default()),
                    root: Box::new(empty_part(body_start as u64)),
                }
            } else {
                PartKind::Leaf
            };
            (kind, stop, (body_start, body_start_lfs))
        } else if is_multipart {
            let boundary = ph.boundary.clone().unwrap_or_default();
            let (children, stop, end) = self.multipart(boundary, body_start, depth, &ph);
            (PartKind::Multipart(children), stop, end)
        } else if is_message {
            let (root, stop) = self.entity(depth + 1, false);
            let raw = self.cur.raw();
            let env = envelope(&split_fields(
                &raw[root.header_start as usize..root.body_start as usize],
            ));
            let end = root.body_end as usize;
            let end_lfs = body_start_lfs + lines_of(&root, raw);
            (
                PartKind::Message {
                    envelope: Box::new(env),
                    root: Box::new(root),
                },
                stop,
                (end, end_lfs),
            )
        } else {
            let stop = self.scan();
            let end = self.end_at(stop, body_start);
            (PartKind::Leaf, stop, end)
        };

        let part = BodyPart {
            header_start: header_start as u64,
            body_start: body_start as u64,
            body_end: body_end.0 as u64,
            media_type: ph.media_type,
            media_subtype: ph.media_subtype,
            params: ph.params,
            id: ph.id,
            description: ph.description,
            encoding: ph.encoding,
            md5: ph.md5,
            disposition: ph.disposition,
            language: ph.language,
            location: ph.location,
            size: (body_end.0 - body_start) as u64,
            lines: body_end.1 - body_start_lfs,
            kind,
        };
        (part, stop)
    }

    /// The body of a multipart: preamble, children, epilogue. Returns the children,
    /// where scanning stopped and where (offset, LF count) the multipart body ends.
    fn multipart(
        &mut self,
        boundary: Vec<u8>,
        body_start: usize,
        depth: usize,
        ph: &PartHeader,
    ) -> (Vec<BodyPart>, Stop, (usize, u64)) {
        let k = self.boundaries.len();
        self.boundaries.push(boundary);
        let digest = ph.media_subtype == "digest";
        let mut children = Vec::new();
        let mut stop = self.scan();
        loop {
            match stop {
                Stop::Eof => {
                    self.boundaries.truncate(k);
                    return (children, stop, self.end_at(stop, body_start));
                }
                Stop::Boundary { idx, .. } if idx < k => {
                    // An enclosing multipart's delimiter ends this one too.
                    self.boundaries.truncate(idx + 1);
                    return (children, stop, self.end_at(stop, body_start));
                }
                Stop::Boundary { close: false, .. } if self.parts >= MAX_PARTS => {
                    self.consume_line();
                    stop = self.scan();
                }
                Stop::Boundary { close: false, .. } => {
                    self.consume_line();
                    let (child, s) = self.entity(depth + 1, digest);
                    children.push(child);
                    stop = s;
                }
                Stop::Boundary { close: true, .. } => {
                    self.consume_line();
                    self.boundaries.truncate(k);
                    let s = self.scan();
                    return (children, s, self.end_at(s, body_start));
                }
            }
        }
    }
}

/// LF count of a message/rfc822 body: header plus the root's body.
fn lines_of(root: &BodyPart, raw: &[u8]) -> u64 {
    let header = &raw[root.header_start as usize..root.body_start as usize];
    memchr::memchr_iter(b'\n', header).count() as u64 + root.lines
}

/// A zero-length text/plain part at `at`: the body of a message/rfc822 part
/// that has none.
fn empty_part(at: u64) -> BodyPart {
    BodyPart {
        header_start: at,
        body_start: at,
        body_end: at,
        media_type: "text".into(),
        media_subtype: "plain".into(),
        params: vec![("charset".into(), "us-ascii".into())],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        md5: None,
        disposition: None,
        language: None,
        location: None,
        size: 0,
        lines: 0,
        kind: PartKind::Leaf,
    }
}
