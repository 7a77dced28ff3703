//! Tokens of RFC 3501's grammar over one complete command (literals inline).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use super::types::{SeqBound, SequenceSet};
use super::ParseError;

pub(crate) type PResult<T> = Result<T, ParseError>;

fn err<T>(msg: &'static str) -> PResult<T> {
    Err(ParseError::new(msg))
}

/// RFC 3501 atom-specials: `( ) { SP CTL % * " \ ]`. Bytes >= 0x80 are accepted
/// in atoms (raw UTF-8 mailbox names from lenient clients).
pub fn is_atom_char(b: u8) -> bool {
    !matches!(
        b,
        b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
    ) && b > 0x1f
        && b != 0x7f
}

pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// RFC 3501 tag: ASTRING-CHAR except "+", 7-bit only. Unlike atoms, 8-bit bytes
/// are refused: the tag is echoed in the answer and must come back byte for byte.
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+' && b.is_ascii()
}

/// A cursor over the bytes of one command.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    /// Consume `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, msg: &'static str) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            err(msg)
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")
    }

    /// Consume `word` case-insensitively if it is next and is followed by a
    /// non-atom character (or the end).
    pub fn eat_word(&mut self, word: &str) -> bool {
        let w = word.as_bytes();
        let end = self.pos + w.len();
        if end <= self.buf.len()
            && self.buf[self.pos..end].eq_ignore_ascii_case(w)
            && !self
                .buf
                .get(end)
                .is_some_and(|&b| is_atom_char(b) && b != b'[' && b != b'.')
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// End of the command: the final CRLF (or nothing).
    pub fn end(&mut self) -> PResult<()> {
        if self.rest() == b"\r\n" || self.rest() == b"\n" || self.at_end() {
            self.pos = self.buf.len();
            Ok(())
        } else {
            err("unexpected characters at the end of the command")
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.buf.len() && f(self.buf[self.pos]) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    pub fn tag(&mut self) -> PResult<String> {
        let t = self.take_while(is_tag_char);
        if t.is_empty() || t.len() > 256 {
            return err("invalid tag");
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    /// An atom (1*ATOM-CHAR), as text.
    pub fn atom(&mut self) -> PResult<String> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return err("expected an atom");
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    /// A command or option name: letters, digits, '-', '.', '=' and '+'.
    pub fn keyword(&mut self) -> PResult<String> {
        let a = self.take_while(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'=' | b'+' | b'_')
        });
        if a.is_empty() {
            return err("expected a keyword");
        }
        Ok(String::from_utf8_lossy(a).to_ascii_uppercase())
    }

    pub fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 10 {
            return err("expected a number");
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or_else(|| err("number out of range"), Ok)
    }

    pub fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => err("expected a non-zero number"),
            n => Ok(n),
        }
    }

    pub fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 20 {
            return err("expected a number");
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n <= i64::MAX as u64)
            .map_or_else(|| err("number out of range"), Ok)
    }

    /// `"..."` with `\"` and `\\` escapes.
    pub fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return err("unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return err("invalid escape in quoted string"),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{N}CRLF<N bytes>`, `{N+}`, and (when `allow8`) `~{N}` literal8.
    pub fn literal(&mut self, allow8: bool) -> PResult<Vec<u8>> {
        if allow8 {
            self.eat(b'~');
        }
        self.expect(b'{', "expected a literal")?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "invalid literal")?;
        self.eat(b'\r');
        self.expect(b'\n', "invalid literal")?;
        let n = usize::try_from(n).map_err(|_| ParseError::new("literal too large"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| ParseError::new("literal is shorter than announced"))?;
        let data = self.buf[self.pos..end].to_vec();
        self.pos = end;
        Ok(data)
    }

    fn at_literal(&self) -> bool {
        matches!(self.peek(), Some(b'{'))
            || (self.peek() == Some(b'~') && self.buf.get(self.pos + 1) == Some(&b'{'))
    }

    /// string = quoted / literal
    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            _ if self.at_literal() => self.literal(true),
            _ => err("expected a string"),
        }
    }

    /// astring = 1*ASTRING-CHAR / string
    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            _ if self.at_literal() => self.literal(true),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    return err("expected a string");
                }
                Ok(a.to_vec())
            }
        }
    }

    pub fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| ParseError::new("invalid UTF-8"))
    }

    /// nstring = string / NIL
    pub fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// list-mailbox = 1*list-char / string
    pub fn list_mailbox(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            _ if self.at_literal() => self.literal(false),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return err("expected a mailbox pattern");
                }
                Ok(a.to_vec())
            }
        }
    }

    /// A flag: `\Word` or a keyword atom.
    pub fn flag(&mut self, allow_star: bool) -> PResult<String> {
        if self.eat(b'\\') {
            if allow_star && self.eat(b'*') {
                return Ok("\\*".into());
            }
            let a = self.atom()?;
            return Ok(format!("\\{a}"));
        }
        self.atom()
    }

    /// `(flag *(SP flag))`, possibly empty.
    pub fn flag_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(', "expected a flag list")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag(false)?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    pub fn seq_bound(&mut self) -> PResult<SeqBound> {
        if self.eat(b'*') {
            Ok(SeqBound::Star)
        } else {
            Ok(SeqBound::Num(self.nz_number()?))
        }
    }

    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        // RFC 5182: `$` alone names the saved search result.
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let mut out = Vec::new();
        loop {
            let a = self.seq_bound()?;
            let b = if self.eat(b':') { self.seq_bound()? } else { a };
            out.push((a, b));
            if out.len() > 100_000 {
                return err("sequence set too long");
            }
            if !self.eat(b',') {
                return Ok(SequenceSet::normalized(out));
            }
        }
    }

    /// True when a sequence set starts here (digit, `*` or `$`).
    pub fn at_sequence_set(&self) -> bool {
        matches!(self.peek(), Some(b'0'..=b'9') | Some(b'*') | Some(b'$'))
    }

    fn month(&mut self) -> PResult<u32> {
        let m = self.take_while(|b| b.is_ascii_alphabetic());
        const MONTHS: [&[u8]; 12] = [
            b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
            b"dec",
        ];
        MONTHS
            .iter()
            .position(|x| x.eq_ignore_ascii_case(m))
            .map(|i| i as u32 + 1)
            .map_or_else(|| err("invalid month"), Ok)
    }

    fn date_text(&mut self) -> PResult<NaiveDate> {
        let day = self.number()?;
        self.expect(b'-', "invalid date")?;
        let month = self.month()?;
        self.expect(b'-', "invalid date")?;
        let year = self.number()?;
        i32::try_from(year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
            .map_or_else(|| err("invalid date"), Ok)
    }

    /// date = date-text / DQUOTE date-text DQUOTE
    pub fn date(&mut self) -> PResult<NaiveDate> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.expect(b'"', "invalid date")?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    pub fn date_time(&mut self) -> PResult<DateTime<FixedOffset>> {
        self.expect(b'"', "expected a date-time")?;
        self.eat(b' ');
        let date = self.date_text()?;
        self.sp()?;
        let h = self.number()?;
        self.expect(b':', "invalid time")?;
        let m = self.number()?;
        self.expect(b':', "invalid time")?;
        let s = self.number()?;
        self.sp()?;
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return err("invalid zone"),
        };
        self.pos += 1;
        let z = self.take_while(|b| b.is_ascii_digit());
        if z.len() != 4 {
            return err("invalid zone");
        }
        let zn: i32 = std::str::from_utf8(z)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ParseError::new("invalid zone"))?;
        self.expect(b'"', "invalid date-time")?;
        let offset = FixedOffset::east_opt(sign * ((zn / 100) * 3600 + (zn % 100) * 60))
            .ok_or_else(|| ParseError::new("invalid zone"))?;
        let time =
            NaiveTime::from_hms_opt(h, m, s).ok_or_else(|| ParseError::new("invalid time"))?;
        offset
            .from_local_datetime(&NaiveDateTime::new(date, time))
            .single()
            .ok_or_else(|| ParseError::new("invalid date-time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_literals() {
        let mut c = Cursor::new(b"\"a\\\"b\" {3}\r\nxyz atom");
        assert_eq!(c.astring().ok(), Some(b"a\"b".to_vec()));
        c.sp().ok();
        assert_eq!(c.astring().ok(), Some(b"xyz".to_vec()));
        c.sp().ok();
        assert_eq!(c.astring().ok(), Some(b"atom".to_vec()));
        assert!(Cursor::new(b"{10}\r\nshort").literal(false).is_err());
        assert!(Cursor::new(b"\"open").quoted().is_err());
    }

    #[test]
    fn sequence_sets() {
        let s = Cursor::new(b"1:3,5,*:7").sequence_set().ok();
        assert_eq!(
            s,
            Some(SequenceSet(vec![
                (SeqBound::Num(1), SeqBound::Num(3)),
                (SeqBound::Num(5), SeqBound::Num(5)),
                (SeqBound::Num(7), SeqBound::Star),
            ]))
        );
        assert!(Cursor::new(b"0").sequence_set().is_err());
        assert!(Cursor::new(b"99999999999").sequence_set().is_err());
    }

    fn set(s: &str) -> Vec<(SeqBound, SeqBound)> {
        match Cursor::new(s.as_bytes()).sequence_set() {
            Ok(set) => set.0,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn sequence_sets_are_merged() {
        use SeqBound::{Num, Star};
        // Unsorted, overlapping, adjacent and reversed ranges coalesce.
        assert_eq!(
            set("9,3:1,4,7:5,2"),
            vec![(Num(1), Num(7)), (Num(9), Num(9))]
        );
        assert_eq!(
            set("1,3,5"),
            vec![(Num(1), Num(1)), (Num(3), Num(3)), (Num(5), Num(5))]
        );
        assert_eq!(
            set("4294967295,1:4294967295"),
            vec![(Num(1), Num(u32::MAX))]
        );
        // Repeats of one range cost one range.
        assert_eq!(set(&vec!["1:*"; 16_000].join(",")), vec![(Num(1), Star)]);
        assert_eq!(set(&vec!["2:5"; 1000].join(",")), vec![(Num(2), Num(5))]);
        // `*` ranges: the smallest and the largest start survive; a bare `*` is
        // inside any `a:*`.
        assert_eq!(
            set("*,5:*,*:3,9:*,4:*"),
            vec![(Num(3), Star), (Num(9), Star)]
        );
        assert_eq!(set("*,*"), vec![(Star, Star)]);
        assert_eq!(set("2,*"), vec![(Num(2), Num(2)), (Star, Star)]);
    }

    #[test]
    fn sets_resolve_to_disjoint_ranges() {
        use crate::parser::types::ranges_contain;
        let s = SequenceSet::normalized(set("7:*,1:2,3,10,20:*"));
        assert_eq!(s.ranges(Some(12)), vec![(1, 3), (7, 20)]);
        assert_eq!(s.ranges(Some(5)), vec![(1, 3), (5, 20)]);
        assert_eq!(s.ranges(None), vec![(1, 3), (10, 10)]);
        let r = s.ranges(Some(12));
        for (n, inside) in [
            (0, false),
            (1, true),
            (3, true),
            (4, false),
            (6, false),
            (7, true),
            (20, true),
            (21, false),
        ] {
            assert_eq!(ranges_contain(&r, n), inside, "{n}");
        }
        assert!(!ranges_contain(&[], 1));
    }

    #[test]
    fn dates() {
        assert_eq!(
            Cursor::new(b"1-Feb-1994").date().ok(),
            NaiveDate::from_ymd_opt(1994, 2, 1)
        );
        let dt = Cursor::new(b"\"17-Jul-1996 02:44:25 -0700\"").date_time();
        assert_eq!(dt.ok().map(|d| d.timestamp()), Some(837_596_665));
        assert!(Cursor::new(b"\"31-Feb-1996 02:44:25 -0700\"")
            .date_time()
            .is_err());
    }
}
