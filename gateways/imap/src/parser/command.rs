//! The command grammar: RFC 3501 plus the extensions Eider announces.

use super::lexer::{Cursor, PResult};
use super::search::search_program;
use super::types::*;
use super::ParseError;

fn err<T>(msg: &'static str) -> PResult<T> {
    Err(ParseError::new(msg))
}

/// Parse one complete command (all its lines and literals, final CRLF optional).
pub fn parse_command(buf: &[u8]) -> Result<Request, ParseError> {
    let mut c = Cursor::new(buf);
    let tag = c.tag()?;
    let parsed: PResult<Command> = (|| {
        c.sp()?;
        let command = command(&mut c)?;
        c.end()?;
        Ok(command)
    })();
    match parsed {
        Ok(command) => Ok(Request { tag, command }),
        Err(mut e) => {
            e.tag = Some(tag);
            Err(e)
        }
    }
}

fn command(c: &mut Cursor<'_>) -> PResult<Command> {
    let name = c.keyword()?;
    Ok(match name.as_str() {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "IDLE" => Command::Idle,
        "NAMESPACE" => Command::Namespace,
        "AUTHENTICATE" => {
            c.sp()?;
            let mechanism = c.atom()?.to_ascii_uppercase();
            let initial = if c.eat(b' ') {
                let ir = c.atom()?;
                Some(ir)
            } else {
                None
            };
            Command::Authenticate { mechanism, initial }
        }
        "LOGIN" => {
            c.sp()?;
            let username = c.astring_utf8()?;
            c.sp()?;
            let password = c.astring_utf8()?;
            Command::Login { username, password }
        }
        "SELECT" | "EXAMINE" => {
            c.sp()?;
            let mailbox = c.astring()?;
            let params = if c.eat(b' ') {
                select_params(c)?
            } else {
                SelectParams::default()
            };
            Command::Select {
                mailbox,
                readonly: name == "EXAMINE",
                params,
            }
        }
        "CREATE" => {
            c.sp()?;
            let mailbox = c.astring()?;
            let mut special_use = Vec::new();
            if c.eat(b' ') {
                c.expect(b'(', "expected create parameters")?;
                loop {
                    let p = c.keyword()?;
                    if p != "USE" {
                        return err("unknown CREATE parameter");
                    }
                    c.sp()?;
                    special_use.extend(c.flag_list()?);
                    if c.eat(b')') {
                        break;
                    }
                    c.sp()?;
                }
            }
            Command::Create {
                mailbox,
                special_use,
            }
        }
        "DELETE" => {
            c.sp()?;
            Command::Delete(c.astring()?)
        }
        "SUBSCRIBE" => {
            c.sp()?;
            Command::Subscribe(c.astring()?)
        }
        "UNSUBSCRIBE" => {
            c.sp()?;
            Command::Unsubscribe(c.astring()?)
        }
        "RENAME" => {
            c.sp()?;
            let from = c.astring()?;
            c.sp()?;
            let to = c.astring()?;
            Command::Rename { from, to }
        }
        "LIST" | "XLIST" => Command::List(list(c, name == "XLIST")?),
        "LSUB" => {
            c.sp()?;
            let reference = c.astring()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            Command::List(ListCommand {
                reference,
                patterns: vec![pattern],
                select: ListSelect::default(),
                ret: ListReturn::default(),
                lsub: true,
                xlist: false,
                extended: false,
            })
        }
        "STATUS" => {
            c.sp()?;
            let mailbox = c.astring()?;
            c.sp()?;
            Command::Status {
                mailbox,
                items: status_items(c)?,
            }
        }
        "APPEND" => append(c)?,
        "GETMETADATA" => get_metadata(c)?,
        "GENURLAUTH" => {
            let mut pairs = Vec::new();
            while c.eat(b' ') {
                if pairs.len() >= MAX_METADATA_ENTRIES {
                    return err("too many URLs");
                }
                let url = c.astring()?;
                c.sp()?;
                pairs.push((url, c.atom()?.to_ascii_uppercase()));
            }
            if pairs.is_empty() {
                return err("expected a URL");
            }
            Command::GenUrlAuth(pairs)
        }
        "RESETKEY" => {
            let mut mailbox = None;
            if c.eat(b' ') {
                mailbox = Some(c.astring()?);
                // Mechanisms: only INTERNAL exists, whose key is the mailbox's.
                while c.eat(b' ') {
                    c.atom()?;
                }
            }
            Command::ResetKey(mailbox)
        }
        "URLFETCH" => {
            let mut urls = Vec::new();
            while c.eat(b' ') {
                if urls.len() >= MAX_METADATA_ENTRIES {
                    return err("too many URLs");
                }
                if c.peek() == Some(b'(') {
                    return err("URLFETCH parameters are not supported");
                }
                urls.push(c.astring()?);
            }
            if urls.is_empty() {
                return err("expected a URL");
            }
            Command::UrlFetch(urls)
        }
        "SETMETADATA" => set_metadata(c)?,
        "EXPUNGE" => Command::Expunge { uids: None },
        "SEARCH" => search(c, false)?,
        "SORT" => sort(c, false)?,
        "THREAD" => thread(c, false)?,
        "CANCELUPDATE" => {
            let mut tags = Vec::new();
            while c.eat(b' ') {
                tags.push(String::from_utf8_lossy(&c.astring()?).into_owned());
            }
            if tags.is_empty() {
                return err("CANCELUPDATE needs tags");
            }
            Command::CancelUpdate(tags)
        }
        "FETCH" => fetch(c, false)?,
        "STORE" => store(c, false)?,
        "COPY" => copy_move(c, false, false)?,
        "MOVE" => copy_move(c, false, true)?,
        "UID" => {
            c.sp()?;
            let sub = c.keyword()?;
            match sub.as_str() {
                "FETCH" => fetch(c, true)?,
                "SEARCH" => search(c, true)?,
                "SORT" => sort(c, true)?,
                "THREAD" => thread(c, true)?,
                "STORE" => store(c, true)?,
                "COPY" => copy_move(c, true, false)?,
                "MOVE" => copy_move(c, true, true)?,
                "EXPUNGE" => {
                    c.sp()?;
                    Command::Expunge {
                        uids: Some(c.sequence_set()?),
                    }
                }
                _ => return err("unknown UID command"),
            }
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                caps.push(c.atom()?.to_ascii_uppercase());
            }
            if caps.is_empty() {
                return err("ENABLE needs capability names");
            }
            Command::Enable(caps)
        }
        "ID" => {
            c.sp()?;
            Command::Id(id_params(c)?)
        }
        "GETQUOTA" => {
            c.sp()?;
            Command::GetQuota(c.astring()?)
        }
        "GETQUOTAROOT" => {
            c.sp()?;
            Command::GetQuotaRoot(c.astring()?)
        }
        "SETQUOTA" => {
            c.sp()?;
            let root = c.astring()?;
            c.sp()?;
            c.expect(b'(', "expected a resource list")?;
            let mut depth = 1;
            while depth > 0 {
                match c.peek() {
                    None | Some(b'\r') | Some(b'\n') => return err("unterminated resource list"),
                    Some(b'(') => depth += 1,
                    Some(b')') => depth -= 1,
                    _ => {}
                }
                c.eat(c.peek().unwrap_or(0));
            }
            Command::SetQuota(root)
        }
        "NOTIFY" => Command::Notify(super::notify::notify(c)?),
        "COMPRESS" => {
            c.sp()?;
            Command::Compress(c.atom()?.to_ascii_uppercase())
        }
        _ => return err("unknown command"),
    })
}

fn select_params(c: &mut Cursor<'_>) -> PResult<SelectParams> {
    let mut p = SelectParams::default();
    c.expect(b'(', "expected select parameters")?;
    if c.eat(b')') {
        return Ok(p);
    }
    loop {
        match c.keyword()?.as_str() {
            "CONDSTORE" => p.condstore = true,
            "QRESYNC" => {
                c.sp()?;
                c.expect(b'(', "expected QRESYNC parameters")?;
                let uid_validity = c.nz_number()?;
                c.sp()?;
                let modseq = c.number64()?;
                let mut known_uids = None;
                let mut seq_match = None;
                if c.eat(b' ') {
                    if c.at_sequence_set() {
                        known_uids = Some(c.sequence_set()?);
                        if c.eat(b' ') {
                            seq_match = Some(seq_match_data(c)?);
                        }
                    } else {
                        seq_match = Some(seq_match_data(c)?);
                    }
                }
                c.expect(b')', "invalid QRESYNC parameters")?;
                p.qresync = Some(QresyncParams {
                    uid_validity,
                    modseq,
                    known_uids,
                    seq_match,
                });
            }
            _ => return err("unknown SELECT parameter"),
        }
        if c.eat(b')') {
            return Ok(p);
        }
        c.sp()?;
    }
}

fn seq_match_data(c: &mut Cursor<'_>) -> PResult<(SequenceSet, SequenceSet)> {
    c.expect(b'(', "expected sequence match data")?;
    let seqs = c.sequence_set()?;
    c.sp()?;
    let uids = c.sequence_set()?;
    c.expect(b')', "invalid sequence match data")?;
    Ok((seqs, uids))
}

fn list(c: &mut Cursor<'_>, xlist: bool) -> PResult<ListCommand> {
    let mut cmd = ListCommand {
        reference: Vec::new(),
        patterns: Vec::new(),
        select: ListSelect::default(),
        ret: ListReturn::default(),
        lsub: false,
        xlist,
        extended: false,
    };
    c.sp()?;
    if !xlist && c.eat(b'(') {
        cmd.extended = true;
        if !c.eat(b')') {
            loop {
                match c.keyword()?.as_str() {
                    "SUBSCRIBED" => cmd.select.subscribed = true,
                    "REMOTE" => cmd.select.remote = true,
                    "RECURSIVEMATCH" => cmd.select.recursive_match = true,
                    "SPECIAL-USE" => cmd.select.special_use = true,
                    _ => return err("unknown LIST selection option"),
                }
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
        }
        if cmd.select.recursive_match && !cmd.select.subscribed && !cmd.select.special_use {
            return err("RECURSIVEMATCH needs another selection option");
        }
        c.sp()?;
    }
    cmd.reference = c.astring()?;
    c.sp()?;
    if !xlist && c.eat(b'(') {
        cmd.extended = true;
        loop {
            cmd.patterns.push(c.list_mailbox()?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
            if cmd.patterns.len() > 64 {
                return err("too many patterns");
            }
        }
    } else {
        cmd.patterns.push(c.list_mailbox()?);
    }
    if !xlist && c.eat(b' ') {
        if !c.eat_word("RETURN") {
            return err("expected RETURN");
        }
        cmd.extended = true;
        c.sp()?;
        c.expect(b'(', "expected return options")?;
        if !c.eat(b')') {
            loop {
                match c.keyword()?.as_str() {
                    "SUBSCRIBED" => cmd.ret.subscribed = true,
                    "CHILDREN" => cmd.ret.children = true,
                    "SPECIAL-USE" => cmd.ret.special_use = true,
                    "STATUS" => {
                        c.sp()?;
                        cmd.ret.status = Some(status_items(c)?);
                    }
                    _ => return err("unknown LIST return option"),
                }
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
        }
    }
    Ok(cmd)
}

fn status_items(c: &mut Cursor<'_>) -> PResult<Vec<StatusItem>> {
    c.expect(b'(', "expected status items")?;
    let mut items = Vec::new();
    loop {
        let item = match c.keyword()?.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "SIZE" => StatusItem::Size,
            "APPENDLIMIT" => StatusItem::AppendLimit,
            "DELETED" => StatusItem::Deleted,
            "MAILBOXID" => StatusItem::MailboxId,
            _ => return err("unknown status item"),
        };
        if !items.contains(&item) {
            items.push(item);
        }
        if c.eat(b')') {
            return Ok(items);
        }
        c.sp()?;
    }
}

/// Most entries one GETMETADATA or SETMETADATA may name.
const MAX_METADATA_ENTRIES: usize = 1000;

fn metadata_entry(c: &mut Cursor<'_>) -> PResult<String> {
    c.astring_utf8()
}

/// RFC 5464: GETMETADATA [SP "(" options ")"] SP mailbox SP (entry / "(" entries ")")
fn get_metadata(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp()?;
    let mut maxsize = None;
    let mut depth = MetadataDepthArg::Zero;
    if c.eat(b'(') {
        loop {
            match c.keyword()?.as_str() {
                "MAXSIZE" => {
                    c.sp()?;
                    maxsize = Some(c.number64()?);
                }
                "DEPTH" => {
                    c.sp()?;
                    depth = match c.atom()?.to_ascii_uppercase().as_str() {
                        "0" => MetadataDepthArg::Zero,
                        "1" => MetadataDepthArg::One,
                        "INFINITY" => MetadataDepthArg::Infinity,
                        _ => return err("invalid DEPTH"),
                    };
                }
                _ => return err("unknown GETMETADATA option"),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        c.sp()?;
    }
    let mailbox = c.astring()?;
    c.sp()?;
    let mut entries = Vec::new();
    if c.eat(b'(') {
        loop {
            if entries.len() >= MAX_METADATA_ENTRIES {
                return err("too many entries");
            }
            entries.push(metadata_entry(c)?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        entries.push(metadata_entry(c)?);
    }
    Ok(Command::GetMetadata {
        mailbox,
        maxsize,
        depth,
        entries,
    })
}

/// RFC 5464: SETMETADATA SP mailbox SP "(" entry SP value *(SP entry SP value) ")"
fn set_metadata(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp()?;
    let mailbox = c.astring()?;
    c.sp()?;
    c.expect(b'(', "expected entries")?;
    let mut entries = Vec::new();
    loop {
        if entries.len() >= MAX_METADATA_ENTRIES {
            return err("too many entries");
        }
        let name = metadata_entry(c)?;
        c.sp()?;
        entries.push((name, c.nstring()?));
        if c.eat(b')') {
            break;
        }
        c.sp()?;
    }
    Ok(Command::SetMetadata { mailbox, entries })
}

/// Most messages one APPEND may carry (MULTIAPPEND): the command's bytes are
/// bounded by the framing; this bounds the per-message work on tiny messages.
pub const MAX_APPEND_MESSAGES: usize = 1000;
/// Most parts of one CATENATE.
pub const MAX_CATENATE_PARTS: usize = 256;

fn append(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp()?;
    let mailbox = c.astring()?;
    let mut messages = Vec::new();
    // RFC 3502: append-message *(SP append-message)
    while c.eat(b' ') {
        if messages.len() >= MAX_APPEND_MESSAGES {
            return err("too many messages in one APPEND");
        }
        messages.push(append_message(c)?);
    }
    if messages.is_empty() {
        return err("expected a message");
    }
    Ok(Command::Append { mailbox, messages })
}

fn append_message(c: &mut Cursor<'_>) -> PResult<AppendMessage> {
    let mut flags = Vec::new();
    let mut date = None;
    if c.peek() == Some(b'(') {
        flags = c.flag_list()?;
        c.sp()?;
    }
    if c.peek() == Some(b'"') {
        date = Some(c.date_time()?);
        c.sp()?;
    }
    let content = if c.eat_word("UTF8") {
        // RFC 6855: UTF8 (literal8)
        c.sp()?;
        c.expect(b'(', "expected (")?;
        let m = c.literal(true)?;
        c.expect(b')', "expected )")?;
        AppendContent::Literal(m)
    } else if c.eat_word("CATENATE") {
        // RFC 4469: "CATENATE" SP "(" cat-part *(SP cat-part) ")"
        c.sp()?;
        c.expect(b'(', "expected (")?;
        let mut parts = Vec::new();
        loop {
            if parts.len() >= MAX_CATENATE_PARTS {
                return err("too many CATENATE parts");
            }
            let kind = c.keyword()?;
            c.sp()?;
            parts.push(match kind.as_str() {
                "TEXT" => CatenatePart::Text(c.literal(true)?),
                "URL" => CatenatePart::Url(c.astring()?),
                _ => return err("expected TEXT or URL"),
            });
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        AppendContent::Catenate(parts)
    } else {
        AppendContent::Literal(c.literal(true)?)
    };
    Ok(AppendMessage {
        flags,
        date,
        content,
    })
}

/// `RETURN (...) SP` if present: ESEARCH (RFC 4731), SAVE (RFC 5182), UPDATE and
/// CONTEXT (RFC 5267), PARTIAL (RFC 9394). An empty list means ALL.
fn search_return(c: &mut Cursor<'_>) -> PResult<Option<SearchReturn>> {
    if !c.eat_word("RETURN") {
        return Ok(None);
    }
    c.sp()?;
    c.expect(b'(', "expected return options")?;
    let mut r = SearchReturn::default();
    if !c.eat(b')') {
        loop {
            match c.keyword()?.as_str() {
                "MIN" => r.min = true,
                "MAX" => r.max = true,
                "ALL" => r.all = true,
                "COUNT" => r.count = true,
                "SAVE" => r.save = true,
                "UPDATE" => r.update = true,
                "CONTEXT" => r.context = true,
                "PARTIAL" => {
                    c.sp()?;
                    r.partial = Some(partial_range(c)?);
                }
                _ => return err("unknown SEARCH return option"),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    if r == SearchReturn::default() {
        r.all = true;
    }
    c.sp()?;
    Ok(Some(r))
}

/// One partial-range (RFC 9394): `n:m` or `-n:-m`, ordered low to high.
fn partial_range(c: &mut Cursor<'_>) -> PResult<(i64, i64)> {
    let neg = c.peek() == Some(b'-');
    let one = |c: &mut Cursor<'_>| -> PResult<i64> {
        if neg && !c.eat(b'-') {
            return err("partial range mixes signs");
        }
        let n = i64::from(c.nz_number()?);
        Ok(if neg { -n } else { n })
    };
    let a = one(c)?;
    c.expect(b':', "expected a partial range n:m")?;
    let b = one(c)?;
    // Ordered by magnitude, as answers echo it: 4:2 is 2:4, -3:-1 is -1:-3.
    Ok(if a.abs() <= b.abs() { (a, b) } else { (b, a) })
}

fn charset(c: &mut Cursor<'_>) -> PResult<String> {
    Ok(String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase())
}

fn search(c: &mut Cursor<'_>, uid: bool) -> PResult<Command> {
    c.sp()?;
    let ret = search_return(c)?;
    let mut cs = None;
    if c.eat_word("CHARSET") {
        c.sp()?;
        cs = Some(charset(c)?);
        c.sp()?;
    }
    let criteria = search_program(c)?;
    Ok(Command::Search {
        uid,
        charset: cs,
        criteria,
        ret,
    })
}

/// SORT (RFC 5256, 5267 RETURN, 5957 DISPLAYFROM/DISPLAYTO).
fn sort(c: &mut Cursor<'_>, uid: bool) -> PResult<Command> {
    use eider_service::{SortCriterion, SortKey};
    c.sp()?;
    let ret = search_return(c)?;
    c.expect(b'(', "expected sort criteria")?;
    let mut program = Vec::new();
    loop {
        let mut word = c.keyword()?;
        let reverse = word == "REVERSE";
        if reverse {
            c.sp()?;
            word = c.keyword()?;
        }
        let key = match word.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return err("unknown sort key"),
        };
        program.push(SortCriterion { key, reverse });
        if program.len() > 32 {
            return err("too many sort keys (max 32)");
        }
        if c.eat(b')') {
            break;
        }
        c.sp()?;
    }
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let criteria = search_program(c)?;
    Ok(Command::Sort {
        uid,
        ret,
        program,
        charset,
        criteria,
    })
}

/// THREAD (RFC 5256): ORDEREDSUBJECT or REFERENCES.
fn thread(c: &mut Cursor<'_>, uid: bool) -> PResult<Command> {
    use eider_service::ThreadAlgorithm;
    c.sp()?;
    let algorithm = match c.keyword()?.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return err("unknown threading algorithm"),
    };
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let criteria = search_program(c)?;
    Ok(Command::Thread {
        uid,
        algorithm,
        charset,
        criteria,
    })
}

fn fetch(c: &mut Cursor<'_>, uid: bool) -> PResult<Command> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mut macro_or_single = true;
    let items = if c.eat_word("ALL") {
        vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
            FetchAtt::Envelope,
        ]
    } else if c.eat_word("FAST") {
        vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
        ]
    } else if c.eat_word("FULL") {
        vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
            FetchAtt::Envelope,
            FetchAtt::Body,
        ]
    } else if c.eat(b'(') {
        macro_or_single = false;
        let mut items = Vec::new();
        loop {
            items.push(fetch_att(c)?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
            if items.len() > 1000 {
                return err("too many fetch items");
            }
        }
        items
    } else {
        vec![fetch_att(c)?]
    };
    let mut modifiers = FetchModifiers::default();
    if c.eat(b' ') {
        c.expect(b'(', "expected fetch modifiers")?;
        loop {
            match c.keyword()?.as_str() {
                "CHANGEDSINCE" => {
                    c.sp()?;
                    modifiers.changed_since = Some(c.number64()?);
                }
                "VANISHED" => modifiers.vanished = true,
                // RFC 9394 3.3: a window of the messages the set names.
                "PARTIAL" => {
                    c.sp()?;
                    modifiers.partial = Some(partial_range(c)?);
                }
                _ => return err("unknown FETCH modifier"),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        if modifiers.vanished && (!uid || modifiers.changed_since.is_none()) {
            return err("VANISHED needs UID FETCH with CHANGEDSINCE");
        }
    }
    Ok(Command::Fetch {
        uid,
        set,
        items,
        modifiers,
        macro_or_single,
    })
}

pub(super) fn fetch_att(c: &mut Cursor<'_>) -> PResult<FetchAtt> {
    Ok(if c.eat_word("ENVELOPE") {
        FetchAtt::Envelope
    } else if c.eat_word("FLAGS") {
        FetchAtt::Flags
    } else if c.eat_word("INTERNALDATE") {
        FetchAtt::InternalDate
    } else if c.eat_word("RFC822.HEADER") {
        FetchAtt::Rfc822Header
    } else if c.eat_word("RFC822.SIZE") {
        FetchAtt::Rfc822Size
    } else if c.eat_word("RFC822.TEXT") {
        FetchAtt::Rfc822Text
    } else if c.eat_word("RFC822") {
        FetchAtt::Rfc822
    } else if c.eat_word("UID") {
        FetchAtt::Uid
    } else if c.eat_word("BODYSTRUCTURE") {
        FetchAtt::BodyStructure
    } else if c.eat_word("MODSEQ") {
        FetchAtt::ModSeq
    } else if c.eat_word("SAVEDATE") {
        FetchAtt::SaveDate
    } else if c.eat_word("EMAILID") {
        FetchAtt::EmailId
    } else if c.eat_word("THREADID") {
        FetchAtt::ThreadId
    } else if c.eat_word("BODY.PEEK") {
        let section = section(c)?;
        FetchAtt::BodySection {
            peek: true,
            section,
            partial: partial(c)?,
        }
    } else if c.eat_word("BODY") {
        if c.peek() == Some(b'[') {
            let section = section(c)?;
            FetchAtt::BodySection {
                peek: false,
                section,
                partial: partial(c)?,
            }
        } else {
            FetchAtt::Body
        }
    } else if c.eat_word("BINARY.SIZE") {
        FetchAtt::BinarySize(binary_part(c)?)
    } else if c.eat_word("BINARY.PEEK") {
        let part = binary_part(c)?;
        FetchAtt::Binary {
            peek: true,
            part,
            partial: partial(c)?,
        }
    } else if c.eat_word("BINARY") {
        let part = binary_part(c)?;
        FetchAtt::Binary {
            peek: false,
            part,
            partial: partial(c)?,
        }
    } else {
        return err("unknown fetch item");
    })
}

fn part_numbers(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(c.nz_number()?);
        if part.len() > 64 {
            return err("section path too deep");
        }
        if !c.eat(b'.') {
            break;
        }
    }
    Ok(part)
}

fn binary_part(c: &mut Cursor<'_>) -> PResult<Vec<u32>> {
    c.expect(b'[', "expected [")?;
    let part = part_numbers(c)?;
    c.expect(b']', "invalid binary section")?;
    Ok(part)
}

pub(super) fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.expect(b'[', "expected [")?;
    let part = part_numbers(c)?;
    let mut text = None;
    if c.peek() != Some(b']') {
        text = Some(if c.eat_word("HEADER.FIELDS.NOT") {
            c.sp()?;
            SectionText::HeaderFieldsNot(header_list(c)?)
        } else if c.eat_word("HEADER.FIELDS") {
            c.sp()?;
            SectionText::HeaderFields(header_list(c)?)
        } else if c.eat_word("HEADER") {
            SectionText::Header
        } else if c.eat_word("TEXT") {
            SectionText::Text
        } else if !part.is_empty() && c.eat_word("MIME") {
            SectionText::Mime
        } else {
            return err("invalid section");
        });
    }
    c.expect(b']', "invalid section")?;
    Ok(Section { part, text })
}

fn header_list(c: &mut Cursor<'_>) -> PResult<Vec<String>> {
    c.expect(b'(', "expected a header list")?;
    let mut out = Vec::new();
    loop {
        let name = c.astring()?;
        if name.is_empty() || name.iter().any(|&b| b <= b' ' || b == b':' || b >= 0x7f) {
            return err("invalid header field name");
        }
        // Kept as sent: the response echoes the section as requested.
        out.push(String::from_utf8_lossy(&name).into_owned());
        if c.eat(b')') {
            return Ok(out);
        }
        c.sp()?;
        if out.len() > 1000 {
            return err("too many header fields");
        }
    }
}

fn partial(c: &mut Cursor<'_>) -> PResult<Partial> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let start = c.number64()?;
    c.expect(b'.', "invalid partial")?;
    let len = c.number64()?;
    if len == 0 {
        return err("invalid partial length");
    }
    c.expect(b'>', "invalid partial")?;
    Ok(Some((start, len)))
}

fn store(c: &mut Cursor<'_>, uid: bool) -> PResult<Command> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.eat(b'(') {
        loop {
            match c.keyword()?.as_str() {
                "UNCHANGEDSINCE" => {
                    c.sp()?;
                    unchanged_since = Some(c.number64()?);
                }
                _ => return err("unknown STORE modifier"),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        c.sp()?;
    }
    let op = if c.eat(b'+') {
        StoreOp::Add
    } else if c.eat(b'-') {
        StoreOp::Remove
    } else {
        StoreOp::Replace
    };
    let silent = if c.eat_word("FLAGS.SILENT") {
        true
    } else if c.eat_word("FLAGS") {
        false
    } else {
        return err("expected FLAGS");
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut flags = vec![c.flag(false)?];
        while c.eat(b' ') {
            flags.push(c.flag(false)?);
        }
        flags
    };
    Ok(Command::Store {
        uid,
        set,
        unchanged_since,
        op,
        silent,
        flags,
    })
}

fn copy_move(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> PResult<Command> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mailbox = c.astring()?;
    Ok(if is_move {
        Command::Move { uid, set, mailbox }
    } else {
        Command::Copy { uid, set, mailbox }
    })
}

/// ID parameters: field/value pairs, or None for `ID NIL`.
type IdParams = Option<Vec<(String, Option<String>)>>;

fn id_params(c: &mut Cursor<'_>) -> PResult<IdParams> {
    if c.eat_word("NIL") {
        return Ok(None);
    }
    c.expect(b'(', "expected ID parameters")?;
    let mut out = Vec::new();
    if c.eat(b')') {
        return Ok(Some(out));
    }
    loop {
        let k = String::from_utf8_lossy(&c.string()?).into_owned();
        c.sp()?;
        let v = c
            .nstring()?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        out.push((k, v));
        if c.eat(b')') {
            return Ok(Some(out));
        }
        c.sp()?;
        if out.len() > 30 {
            return err("too many ID fields");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::framing;
    use super::*;

    fn cmd(s: &str) -> Command {
        match parse_command(s.as_bytes()) {
            Ok(r) => r.command,
            Err(e) => panic!("{s:?}: {e:?}"),
        }
    }

    fn bad(s: &str) -> ParseError {
        match parse_command(s.as_bytes()) {
            Ok(r) => panic!("{s:?} parsed as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(cmd("a capability\r\n"), Command::Capability);
        assert_eq!(
            cmd("a LOGIN {4+}\r\nuser \"p\\\"w\"\r\n"),
            Command::Login {
                username: "user".into(),
                password: "p\"w".into()
            }
        );
        assert_eq!(
            cmd("a AUTHENTICATE PLAIN AGEAYg=="),
            Command::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into())
            }
        );
        let e = bad("t1 FOO");
        assert_eq!(e.tag.as_deref(), Some("t1"));
        assert!(bad("+ NOOP").tag.is_none());
        assert!(parse_command(b"a NOOP extra").is_err());
    }

    #[test]
    fn select_and_list() {
        match cmd("a SELECT INBOX (CONDSTORE QRESYNC (67890007 90060115194045000 41:211,214:541))")
        {
            Command::Select {
                params, readonly, ..
            } => {
                assert!(!readonly && params.condstore);
                let q = params.qresync.expect("qresync");
                assert_eq!(q.uid_validity, 67890007);
                assert!(q.known_uids.is_some() && q.seq_match.is_none());
            }
            other => panic!("{other:?}"),
        }
        match cmd("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" %) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))") {
            Command::List(l) => {
                assert!(l.extended && l.select.subscribed && l.select.recursive_match);
                assert_eq!(l.patterns.len(), 2);
                assert_eq!(
                    l.ret.status,
                    Some(vec![StatusItem::Messages, StatusItem::Unseen])
                );
            }
            other => panic!("{other:?}"),
        }
        match cmd("a XLIST \"\" *") {
            Command::List(l) => assert!(l.xlist && !l.extended),
            other => panic!("{other:?}"),
        }
        assert!(parse_command(b"a LIST (RECURSIVEMATCH) \"\" *").is_err());
    }

    #[test]
    fn append_forms() {
        match cmd("a APPEND Drafts (\\Seen $x) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello") {
            Command::Append { mailbox, messages } => {
                assert_eq!(mailbox, b"Drafts");
                assert_eq!(messages.len(), 1);
                let m = &messages[0];
                assert_eq!(m.flags, vec!["\\Seen".to_string(), "$x".into()]);
                assert!(m.date.is_some());
                assert_eq!(m.content, AppendContent::Literal(b"hello".to_vec()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cmd("a APPEND INBOX UTF8 (~{2}\r\nhi)"),
            Command::Append { .. }
        ));
        assert!(parse_command(b"a APPEND INBOX {5}\r\nhel").is_err());
        assert!(parse_command(b"a APPEND INBOX").is_err());
        assert!(parse_command(b"a APPEND INBOX {2}\r\nhi ").is_err());
    }

    #[test]
    fn metadata_commands() {
        match cmd("a GETMETADATA (MAXSIZE 100 DEPTH infinity) \"\" (/shared/comment /private/x)") {
            Command::GetMetadata {
                mailbox,
                maxsize,
                depth,
                entries,
            } => {
                assert!(mailbox.is_empty());
                assert_eq!(maxsize, Some(100));
                assert_eq!(depth, MetadataDepthArg::Infinity);
                assert_eq!(entries, vec!["/shared/comment", "/private/x"]);
            }
            other => panic!("{other:?}"),
        }
        match cmd("a SETMETADATA INBOX (/private/comment {3}\r\nabc /shared/x NIL)") {
            Command::SetMetadata { mailbox, entries } => {
                assert_eq!(mailbox, b"INBOX");
                assert_eq!(
                    entries,
                    vec![
                        ("/private/comment".to_string(), Some(b"abc".to_vec())),
                        ("/shared/x".to_string(), None)
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_command(b"a GETMETADATA (DEPTH 2) INBOX /private/x").is_err());
        assert!(parse_command(b"a SETMETADATA INBOX ()").is_err());
    }

    #[test]
    fn multiappend_and_catenate() {
        match cmd("a APPEND x (\\Seen) {2}\r\nhi \"01-Jan-2020 00:00:00 +0000\" {3}\r\nyou CATENATE (URL \"/x/;uid=1\" TEXT {2+}\r\nab URL /y;uid=2)") {
            Command::Append { messages, .. } => {
                assert_eq!(messages.len(), 3);
                assert_eq!(messages[0].content, AppendContent::Literal(b"hi".to_vec()));
                assert!(messages[1].flags.is_empty() && messages[1].date.is_some());
                assert_eq!(
                    messages[2].content,
                    AppendContent::Catenate(vec![
                        CatenatePart::Url(b"/x/;uid=1".to_vec()),
                        CatenatePart::Text(b"ab".to_vec()),
                        CatenatePart::Url(b"/y;uid=2".to_vec()),
                    ])
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_command(b"a APPEND x CATENATE ()").is_err());
        assert!(parse_command(b"a APPEND x CATENATE (FOO {1}\r\na)").is_err());
    }

    #[test]
    fn fetch_items() {
        match cmd("a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From \"To\")]<0.100> BINARY[1] BINARY.SIZE[2] RFC822.SIZE BODY[] BODY) (CHANGEDSINCE 5 VANISHED)") {
            Command::Fetch { uid, items, modifiers, .. } => {
                assert!(uid);
                assert_eq!(modifiers.changed_since, Some(5));
                assert!(modifiers.vanished);
                assert_eq!(items.len(), 7);
                assert_eq!(
                    items[1],
                    FetchAtt::BodySection {
                        peek: true,
                        section: Section {
                            part: vec![1, 2],
                            text: Some(SectionText::HeaderFields(vec!["From".into(), "To".into()]))
                        },
                        partial: Some((0, 100))
                    }
                );
                assert_eq!(items[6], FetchAtt::Body);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(cmd("a FETCH 1 ALL"), Command::Fetch { ref items, .. } if items.len() == 4)
        );
        assert!(matches!(cmd("a FETCH 1 body[text]"), Command::Fetch { .. }));
        assert!(parse_command(b"a FETCH 1 BODY[MIME]").is_err());
        assert!(parse_command(b"a FETCH 1 (FLAGS").is_err());
        assert!(parse_command(b"a FETCH 1:* (FLAGS) (VANISHED)").is_err());
    }

    #[test]
    fn store_forms() {
        assert_eq!(
            cmd("a UID STORE 1:3 (UNCHANGEDSINCE 7) +FLAGS.SILENT (\\Seen \\Deleted)"),
            Command::Store {
                uid: true,
                set: SequenceSet(vec![(SeqBound::Num(1), SeqBound::Num(3))]),
                unchanged_since: Some(7),
                op: StoreOp::Add,
                silent: true,
                flags: vec!["\\Seen".into(), "\\Deleted".into()],
            }
        );
        assert!(
            matches!(cmd("a STORE 1 FLAGS \\Seen $Junk"), Command::Store { ref flags, .. } if flags.len() == 2)
        );
        assert!(matches!(
            cmd("a STORE 1 -FLAGS ()"),
            Command::Store {
                op: StoreOp::Remove,
                ..
            }
        ));
    }

    /// Found by the `command` fuzz target: an 8-bit tag was accepted and echoed
    /// through `from_utf8_lossy`, so the answer carried a tag the client never sent.
    #[test]
    fn eight_bit_tag_is_refused() {
        let e = parse_command(b"\xdd NOOP\r\n").expect_err("8-bit tag");
        assert_eq!(e.tag, None);
        assert!(parse_command(b"a\xc3\xa9 NOOP\r\n").is_err());
        assert_eq!(framing::peek_tag_and_name(b"\xddc NOOP").0, None);
        assert_eq!(cmd("A.1_x NOOP"), Command::Noop);
    }

    /// The section echoed in `BODY[...]` must parse back to the same section,
    /// also when a header name is not an atom (it is written quoted).
    #[test]
    fn echoed_sections_parse_back() {
        for req in [
            "a FETCH 1 BODY[HEADER.FIELDS (\"X(\")]",
            "a FETCH 1 BODY[1.HEADER.FIELDS.NOT (From \")\" \"{3}\" \"a\\\"b\" \"c\\\\\" \"%*\" x])]",
            "a FETCH 1 BODY[2.3.HEADER.FIELDS ({4}\r\nX-(a To)]",
        ] {
            let Command::Fetch { items, .. } = cmd(req) else {
                panic!("{req}");
            };
            let FetchAtt::BodySection { section, .. } = &items[0] else {
                panic!("{req}");
            };
            let echoed = format!("a FETCH 1 BODY[{}]", section.render());
            let Command::Fetch { items: back, .. } = cmd(&echoed) else {
                panic!("{echoed}");
            };
            assert_eq!(back, items, "{echoed}");
        }
        assert_eq!(
            Section {
                part: vec![1],
                text: Some(SectionText::HeaderFields(vec!["From".into(), "X(".into()]))
            }
            .render(),
            "1.HEADER.FIELDS (From \"X(\")"
        );
    }

    #[test]
    fn misc() {
        assert_eq!(
            cmd("a ID (\"name\" \"x\" \"version\" NIL)"),
            Command::Id(Some(vec![
                ("name".into(), Some("x".into())),
                ("version".into(), None)
            ]))
        );
        assert_eq!(cmd("a ID NIL"), Command::Id(None));
        assert_eq!(
            cmd("a ENABLE condstore utf8=accept"),
            Command::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()])
        );
        assert_eq!(
            cmd("a COMPRESS DEFLATE"),
            Command::Compress("DEFLATE".into())
        );
        assert!(matches!(
            cmd("a SETQUOTA \"\" (STORAGE 512)"),
            Command::SetQuota(_)
        ));
        assert_eq!(
            cmd("a CREATE Archive (USE (\\Archive))"),
            Command::Create {
                mailbox: b"Archive".to_vec(),
                special_use: vec!["\\Archive".into()]
            }
        );
        assert!(matches!(
            cmd("a UID EXPUNGE 1:5"),
            Command::Expunge { uids: Some(_) }
        ));
    }
}
