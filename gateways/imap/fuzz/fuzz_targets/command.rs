//! Any bytes, framed exactly as the session frames them (lines, `{N}`/`{N+}`/`~{N}`
//! literals appended inline) and handed to `parse_command`, the entry point the
//! session uses. Checks:
//! - nothing panics (framing, parsing, mailbox-name decoding, LIST patterns);
//! - the tag the answer will carry is the client's tag, byte for byte;
//! - every parsed command, written back in a canonical spelling (strings quoted
//!   or as literals by the server's own `write_string`), frames as one command
//!   and re-parses to the same value;
//! - every body section the server echoes in a FETCH answer (`Section::render`)
//!   parses back to the same section.
#![no_main]

use eider_imap::mailbox_names::{from_wire, Pattern};
use eider_imap::parser::framing::{literal_at_end, peek_tag_and_name};
use eider_imap::parser::*;
use eider_imap::response::write_string;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for cmd in frame(data) {
        let _ = peek_tag_and_name(&cmd);
        let Ok(req) = parse_command(&cmd) else {
            continue;
        };
        // Answers carry the tag: it must be the client's, byte for byte.
        assert!(
            cmd.starts_with(req.tag.as_bytes()),
            "tag {:?} is not what the client sent",
            req.tag
        );
        exercise(&req.command);
        let wire = canonical(&req);
        let framed = frame(&wire);
        assert_eq!(
            framed.len(),
            1,
            "canonical spelling frames as {} commands: {:?}",
            framed.len(),
            String::from_utf8_lossy(&wire)
        );
        match parse_command(&framed[0]) {
            Ok(back) => assert_eq!(back, req, "{:?}", String::from_utf8_lossy(&wire)),
            Err(e) => panic!(
                "canonical spelling {:?} of {req:?} does not parse: {e:?}",
                String::from_utf8_lossy(&wire)
            ),
        }
    }
});

/// The session's framing (`Session::read_command` over `Conn::take_line`),
/// without the size limits: lines end at LF (a CR before it is dropped), empty
/// lines between commands are skipped, a line ending in a literal announcement
/// is followed by that many bytes and more of the same command.
fn frame(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        let Some(i) = data.iter().position(|&b| b == b'\n') else {
            return out;
        };
        let mut line = &data[..i];
        data = &data[i + 1..];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if buf.is_empty() && line.is_empty() {
            continue;
        }
        buf.extend_from_slice(line);
        buf.extend_from_slice(b"\r\n");
        match literal_at_end(line) {
            None => out.push(std::mem::take(&mut buf)),
            Some(lit) => {
                let Some(n) = usize::try_from(lit.len).ok().filter(|&n| n <= data.len()) else {
                    return out;
                };
                buf.extend_from_slice(&data[..n]);
                data = &data[n..];
            }
        }
    }
}

/// What the session does with the parts of a command that are not decoded by
/// the parser itself.
fn exercise(cmd: &Command) {
    let names: Vec<&[u8]> = match cmd {
        Command::Select { mailbox, .. }
        | Command::Create { mailbox, .. }
        | Command::Status { mailbox, .. }
        | Command::Append { mailbox, .. }
        | Command::Copy { mailbox, .. }
        | Command::Move { mailbox, .. }
        | Command::Delete(mailbox)
        | Command::Subscribe(mailbox)
        | Command::Unsubscribe(mailbox)
        | Command::GetQuota(mailbox)
        | Command::GetQuotaRoot(mailbox)
        | Command::SetQuota(mailbox) => vec![mailbox],
        Command::Rename { from, to } => vec![from, to],
        Command::List(l) => {
            for utf8 in [false, true] {
                let reference = from_wire(&l.reference, utf8).unwrap_or_default();
                for p in &l.patterns {
                    if let Some(p) = from_wire(p, utf8) {
                        let pat = Pattern::new(&reference, &p);
                        let _ = pat.matches("INBOX/a/b");
                        let _ = pat.matches(&p);
                    }
                }
            }
            vec![]
        }
        Command::Fetch { items, .. } => {
            for i in items {
                if let FetchAtt::BodySection { section, .. } = i {
                    section_round_trip(section);
                }
            }
            vec![]
        }
        _ => vec![],
    };
    for n in names {
        let _ = from_wire(n, false);
        let _ = from_wire(n, true);
    }
}

/// The section as echoed in `BODY[...]` must read back as the same section.
fn section_round_trip(section: &Section) {
    let echoed = format!("a FETCH 1 BODY[{}]", section.render());
    match parse_command(echoed.as_bytes()).map(|r| r.command) {
        Ok(Command::Fetch { items, .. }) if items.len() == 1 => match &items[0] {
            FetchAtt::BodySection { section: back, .. } => {
                assert_eq!(back, section, "{echoed:?}")
            }
            other => panic!("echoed section {echoed:?} parsed as {other:?}"),
        },
        other => panic!("echoed section {echoed:?} of {section:?} parsed as {other:?}"),
    }
}

// ---- canonical spelling ----------------------------------------------------

fn canonical(req: &Request) -> Vec<u8> {
    let mut w = W(req.tag.as_bytes().to_vec());
    w.s(" ");
    command(&mut w, &req.command);
    w.s("\r\n");
    w.0
}

struct W(Vec<u8>);

impl W {
    fn s(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn str(&mut self, b: &[u8]) {
        write_string(&mut self.0, b, true);
    }
    fn set(&mut self, set: &SequenceSet) {
        let b = |b: &SeqBound| match b {
            SeqBound::Num(n) => n.to_string(),
            SeqBound::Star => "*".into(),
        };
        let parts: Vec<String> = set
            .0
            .iter()
            .map(|(x, y)| {
                if x == y {
                    b(x)
                } else {
                    format!("{}:{}", b(x), b(y))
                }
            })
            .collect();
        self.s(&parts.join(","));
    }
    fn flags(&mut self, flags: &[String]) {
        self.s("(");
        self.s(&flags.join(" "));
        self.s(")");
    }
    fn status_items(&mut self, items: &[StatusItem]) {
        let names: Vec<&str> = items.iter().map(|i| i.name()).collect();
        self.s(&format!("({})", names.join(" ")));
    }
    fn literal(&mut self, b: &[u8]) {
        self.s(&format!("{{{}}}\r\n", b.len()));
        self.0.extend_from_slice(b);
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn date(d: &chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!(
        "{}-{}-{:04}",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year()
    )
}

fn date_time(d: &chrono::DateTime<chrono::FixedOffset>) -> String {
    use chrono::Timelike;
    let off = d.offset().local_minus_utc();
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs() / 60;
    let local = d.naive_local();
    format!(
        "\"{} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        date(&local.date()),
        local.hour(),
        local.minute(),
        local.second(),
        off / 60,
        off % 60
    )
}

fn partial(w: &mut W, p: &Partial) {
    if let Some((a, b)) = p {
        w.s(&format!("<{a}.{b}>"));
    }
}

fn part(p: &[u32]) -> String {
    p.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

fn fetch_att(w: &mut W, a: &FetchAtt) {
    match a {
        FetchAtt::Envelope => w.s("ENVELOPE"),
        FetchAtt::Flags => w.s("FLAGS"),
        FetchAtt::InternalDate => w.s("INTERNALDATE"),
        FetchAtt::Rfc822 => w.s("RFC822"),
        FetchAtt::Rfc822Header => w.s("RFC822.HEADER"),
        FetchAtt::Rfc822Size => w.s("RFC822.SIZE"),
        FetchAtt::Rfc822Text => w.s("RFC822.TEXT"),
        FetchAtt::Uid => w.s("UID"),
        FetchAtt::Body => w.s("BODY"),
        FetchAtt::BodyStructure => w.s("BODYSTRUCTURE"),
        FetchAtt::ModSeq => w.s("MODSEQ"),
        FetchAtt::BodySection {
            peek,
            section,
            partial: p,
        } => {
            w.s(if *peek { "BODY.PEEK[" } else { "BODY[" });
            let mut prefix = part(&section.part);
            if section.text.is_some() && !prefix.is_empty() {
                prefix.push('.');
            }
            w.s(&prefix);
            match &section.text {
                None => {}
                Some(SectionText::Header) => w.s("HEADER"),
                Some(SectionText::Text) => w.s("TEXT"),
                Some(SectionText::Mime) => w.s("MIME"),
                Some(SectionText::HeaderFields(f)) | Some(SectionText::HeaderFieldsNot(f)) => {
                    w.s(match &section.text {
                        Some(SectionText::HeaderFields(_)) => "HEADER.FIELDS (",
                        _ => "HEADER.FIELDS.NOT (",
                    });
                    for (i, name) in f.iter().enumerate() {
                        if i > 0 {
                            w.s(" ");
                        }
                        w.str(name.as_bytes());
                    }
                    w.s(")");
                }
            }
            w.s("]");
            partial(w, p);
        }
        FetchAtt::Binary {
            peek,
            part: p,
            partial: pa,
        } => {
            w.s(if *peek { "BINARY.PEEK[" } else { "BINARY[" });
            w.s(&part(p));
            w.s("]");
            partial(w, pa);
        }
        FetchAtt::BinarySize(p) => w.s(&format!("BINARY.SIZE[{}]", part(p))),
    }
}

fn search_key(w: &mut W, k: &SearchKey) {
    use SearchKey as K;
    let simple = match k {
        K::All => "ALL",
        K::Answered => "ANSWERED",
        K::Deleted => "DELETED",
        K::Draft => "DRAFT",
        K::Flagged => "FLAGGED",
        K::New => "NEW",
        K::Old => "OLD",
        K::Recent => "RECENT",
        K::Seen => "SEEN",
        K::Unanswered => "UNANSWERED",
        K::Undeleted => "UNDELETED",
        K::Undraft => "UNDRAFT",
        K::Unflagged => "UNFLAGGED",
        K::Unseen => "UNSEEN",
        _ => "",
    };
    if !simple.is_empty() {
        return w.s(simple);
    }
    let with_string = |w: &mut W, name: &str, v: &[u8]| {
        w.s(name);
        w.s(" ");
        w.str(v);
    };
    match k {
        K::Keyword(f) => w.s(&format!("KEYWORD {f}")),
        K::Unkeyword(f) => w.s(&format!("UNKEYWORD {f}")),
        K::Bcc(v) => with_string(w, "BCC", v),
        K::Cc(v) => with_string(w, "CC", v),
        K::From(v) => with_string(w, "FROM", v),
        K::To(v) => with_string(w, "TO", v),
        K::Subject(v) => with_string(w, "SUBJECT", v),
        K::Body(v) => with_string(w, "BODY", v),
        K::Text(v) => with_string(w, "TEXT", v),
        K::Header(n, v) => {
            with_string(w, "HEADER", n.as_bytes());
            w.s(" ");
            w.str(v);
        }
        K::Before(d) => w.s(&format!("BEFORE {}", date(d))),
        K::On(d) => w.s(&format!("ON {}", date(d))),
        K::Since(d) => w.s(&format!("SINCE {}", date(d))),
        K::SentBefore(d) => w.s(&format!("SENTBEFORE {}", date(d))),
        K::SentOn(d) => w.s(&format!("SENTON {}", date(d))),
        K::SentSince(d) => w.s(&format!("SENTSINCE {}", date(d))),
        K::Larger(n) => w.s(&format!("LARGER {n}")),
        K::Smaller(n) => w.s(&format!("SMALLER {n}")),
        K::ModSeq(n) => w.s(&format!("MODSEQ {n}")),
        K::Uid(s) => {
            w.s("UID ");
            w.set(s);
        }
        K::SeqSet(s) => w.set(s),
        K::Not(k) => {
            w.s("NOT ");
            search_key(w, k);
        }
        K::Or(a, b) => {
            w.s("OR ");
            search_key(w, a);
            w.s(" ");
            search_key(w, b);
        }
        K::And(keys) => {
            w.s("(");
            search_keys(w, keys);
            w.s(")");
        }
        _ => unreachable!(),
    }
}

fn search_keys(w: &mut W, keys: &[SearchKey]) {
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            w.s(" ");
        }
        search_key(w, k);
    }
}

fn command(w: &mut W, cmd: &Command) {
    use Command as C;
    match cmd {
        C::Capability => w.s("CAPABILITY"),
        C::Noop => w.s("NOOP"),
        C::Logout => w.s("LOGOUT"),
        C::StartTls => w.s("STARTTLS"),
        C::Check => w.s("CHECK"),
        C::Close => w.s("CLOSE"),
        C::Unselect => w.s("UNSELECT"),
        C::Idle => w.s("IDLE"),
        C::Namespace => w.s("NAMESPACE"),
        C::Authenticate { mechanism, initial } => {
            w.s(&format!("AUTHENTICATE {mechanism}"));
            if let Some(ir) = initial {
                w.s(&format!(" {ir}"));
            }
        }
        C::Login { username, password } => {
            w.s("LOGIN ");
            w.str(username.as_bytes());
            w.s(" ");
            w.str(password.as_bytes());
        }
        C::Select {
            mailbox,
            readonly,
            params,
        } => {
            w.s(if *readonly { "EXAMINE " } else { "SELECT " });
            w.str(mailbox);
            let mut opts = Vec::new();
            if params.condstore {
                opts.push("CONDSTORE".to_string());
            }
            if let Some(q) = &params.qresync {
                let mut o = W(format!("QRESYNC ({} {}", q.uid_validity, q.modseq).into_bytes());
                if let Some(k) = &q.known_uids {
                    o.s(" ");
                    o.set(k);
                }
                if let Some((s, u)) = &q.seq_match {
                    o.s(" (");
                    o.set(s);
                    o.s(" ");
                    o.set(u);
                    o.s(")");
                }
                o.s(")");
                opts.push(String::from_utf8(o.0).expect("ascii"));
            }
            if !opts.is_empty() {
                w.s(&format!(" ({})", opts.join(" ")));
            }
        }
        C::Create {
            mailbox,
            special_use,
        } => {
            w.s("CREATE ");
            w.str(mailbox);
            if !special_use.is_empty() {
                w.s(" (USE ");
                w.flags(special_use);
                w.s(")");
            }
        }
        C::Delete(m) => {
            w.s("DELETE ");
            w.str(m);
        }
        C::Subscribe(m) => {
            w.s("SUBSCRIBE ");
            w.str(m);
        }
        C::Unsubscribe(m) => {
            w.s("UNSUBSCRIBE ");
            w.str(m);
        }
        C::GetQuota(m) => {
            w.s("GETQUOTA ");
            w.str(m);
        }
        C::GetQuotaRoot(m) => {
            w.s("GETQUOTAROOT ");
            w.str(m);
        }
        C::SetQuota(m) => {
            w.s("SETQUOTA ");
            w.str(m);
            w.s(" ()");
        }
        C::Rename { from, to } => {
            w.s("RENAME ");
            w.str(from);
            w.s(" ");
            w.str(to);
        }
        C::List(l) => {
            w.s(if l.lsub {
                "LSUB "
            } else if l.xlist {
                "XLIST "
            } else {
                "LIST "
            });
            if !l.extended {
                w.str(&l.reference);
                w.s(" ");
                w.str(&l.patterns[0]);
                return;
            }
            let mut sel = Vec::new();
            for (on, name) in [
                (l.select.subscribed, "SUBSCRIBED"),
                (l.select.remote, "REMOTE"),
                (l.select.recursive_match, "RECURSIVEMATCH"),
                (l.select.special_use, "SPECIAL-USE"),
            ] {
                if on {
                    sel.push(name);
                }
            }
            w.s(&format!("({}) ", sel.join(" ")));
            w.str(&l.reference);
            w.s(" (");
            for (i, p) in l.patterns.iter().enumerate() {
                if i > 0 {
                    w.s(" ");
                }
                w.str(p);
            }
            w.s(") RETURN (");
            let mut ret = Vec::new();
            for (on, name) in [
                (l.ret.subscribed, "SUBSCRIBED"),
                (l.ret.children, "CHILDREN"),
                (l.ret.special_use, "SPECIAL-USE"),
            ] {
                if on {
                    ret.push(name.to_string());
                }
            }
            if let Some(items) = &l.ret.status {
                let mut o = W(b"STATUS ".to_vec());
                o.status_items(items);
                ret.push(String::from_utf8(o.0).expect("ascii"));
            }
            w.s(&ret.join(" "));
            w.s(")");
        }
        C::Status { mailbox, items } => {
            w.s("STATUS ");
            w.str(mailbox);
            w.s(" ");
            w.status_items(items);
        }
        C::Append {
            mailbox,
            flags,
            date,
            message,
        } => {
            w.s("APPEND ");
            w.str(mailbox);
            w.s(" ");
            if !flags.is_empty() {
                w.flags(flags);
                w.s(" ");
            }
            if let Some(d) = date {
                w.s(&date_time(d));
                w.s(" ");
            }
            w.literal(message);
        }
        C::Expunge { uids: None } => w.s("EXPUNGE"),
        C::Expunge { uids: Some(s) } => {
            w.s("UID EXPUNGE ");
            w.set(s);
        }
        C::Search {
            uid,
            charset,
            criteria,
            ret,
        } => {
            w.s(if *uid { "UID SEARCH " } else { "SEARCH " });
            if let Some(r) = ret {
                let mut opts = Vec::new();
                for (on, name) in [
                    (r.min, "MIN"),
                    (r.max, "MAX"),
                    (r.all, "ALL"),
                    (r.count, "COUNT"),
                ] {
                    if on {
                        opts.push(name);
                    }
                }
                w.s(&format!("RETURN ({}) ", opts.join(" ")));
            }
            if let Some(cs) = charset {
                w.s("CHARSET ");
                w.str(cs.as_bytes());
                w.s(" ");
            }
            match criteria {
                SearchKey::And(keys) => search_keys(w, keys),
                k => search_key(w, k),
            }
        }
        C::Fetch {
            uid,
            set,
            items,
            modifiers,
            macro_or_single,
        } => {
            w.s(if *uid { "UID FETCH " } else { "FETCH " });
            w.set(set);
            w.s(" ");
            match (macro_or_single, items.len()) {
                (true, 1) => fetch_att(w, &items[0]),
                (true, 3) => w.s("FAST"),
                (true, 4) => w.s("ALL"),
                (true, 5) => w.s("FULL"),
                _ => {
                    w.s("(");
                    for (i, a) in items.iter().enumerate() {
                        if i > 0 {
                            w.s(" ");
                        }
                        fetch_att(w, a);
                    }
                    w.s(")");
                }
            }
            let mut m = Vec::new();
            if let Some(n) = modifiers.changed_since {
                m.push(format!("CHANGEDSINCE {n}"));
            }
            if modifiers.vanished {
                m.push("VANISHED".into());
            }
            if !m.is_empty() {
                w.s(&format!(" ({})", m.join(" ")));
            }
        }
        C::Store {
            uid,
            set,
            unchanged_since,
            op,
            silent,
            flags,
        } => {
            w.s(if *uid { "UID STORE " } else { "STORE " });
            w.set(set);
            w.s(" ");
            if let Some(n) = unchanged_since {
                w.s(&format!("(UNCHANGEDSINCE {n}) "));
            }
            w.s(match op {
                StoreOp::Add => "+",
                StoreOp::Remove => "-",
                StoreOp::Replace => "",
            });
            w.s(if *silent { "FLAGS.SILENT " } else { "FLAGS " });
            w.flags(flags);
        }
        C::Copy { uid, set, mailbox } | C::Move { uid, set, mailbox } => {
            if *uid {
                w.s("UID ");
            }
            w.s(if matches!(cmd, C::Copy { .. }) {
                "COPY "
            } else {
                "MOVE "
            });
            w.set(set);
            w.s(" ");
            w.str(mailbox);
        }
        C::Enable(caps) => w.s(&format!("ENABLE {}", caps.join(" "))),
        C::Id(None) => w.s("ID NIL"),
        C::Id(Some(params)) => {
            w.s("ID (");
            for (i, (k, v)) in params.iter().enumerate() {
                if i > 0 {
                    w.s(" ");
                }
                w.str(k.as_bytes());
                w.s(" ");
                match v {
                    Some(v) => w.str(v.as_bytes()),
                    None => w.s("NIL"),
                }
            }
            w.s(")");
        }
        C::Compress(m) => w.s(&format!("COMPRESS {m}")),
    }
}
