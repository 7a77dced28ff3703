//! The commands a client can send, as parsed. Mailbox names and search strings
//! are kept as the client sent them (bytes); the session decodes them, since
//! how depends on what it enabled (UTF8=ACCEPT or modified UTF-7).

use chrono::{DateTime, FixedOffset, NaiveDate};

/// One tagged command.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub tag: String,
    pub command: Command,
}

/// One end of a sequence range: a number or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBound {
    Num(u32),
    Star,
    /// `$` (RFC 5182): the saved search result; only as the whole set
    /// ([`SequenceSet::saved`]), resolved by the session.
    Saved,
}

/// A sequence set (`1:3,5,7:*`) of sequence numbers or UIDs, unresolved.
///
/// Built by [`SequenceSet::normalized`] when parsed: numeric ranges come first,
/// sorted and coalesced; ranges with `*` (whose value is known only when the
/// command runs) follow, at most two of them. So a set costs its consumers at
/// most as much as its text, however often it repeats itself (`1:*,1:*,...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqBound, SeqBound)>);

impl SequenceSet {
    /// `$`: the last saved search result (RFC 5182).
    pub fn saved() -> Self {
        SequenceSet(vec![(SeqBound::Saved, SeqBound::Saved)])
    }

    pub fn is_saved(&self) -> bool {
        self.0.first().is_some_and(|r| r.0 == SeqBound::Saved)
    }

    /// The same set with numeric ranges sorted and merged and `*` ranges reduced.
    ///
    /// `a:*` stands for `min(a,*)..=max(a,*)`, which always holds `*` itself; so
    /// the union of several `a:*` is the union of the smallest and the largest
    /// (the largest matters: past the end it widens the range, or makes the set
    /// invalid for sequence numbers), and a bare `*` adds nothing to them.
    pub fn normalized(ranges: Vec<(SeqBound, SeqBound)>) -> Self {
        let mut nums: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        let mut star_from: Option<(u32, u32)> = None;
        let mut bare_star = false;
        for (a, b) in ranges {
            match (a, b) {
                (SeqBound::Num(a), SeqBound::Num(b)) => nums.push((a.min(b), a.max(b))),
                (SeqBound::Num(a), SeqBound::Star) | (SeqBound::Star, SeqBound::Num(a)) => {
                    star_from = Some(star_from.map_or((a, a), |(lo, hi)| (lo.min(a), hi.max(a))));
                }
                (SeqBound::Star, SeqBound::Star) => bare_star = true,
                // Never mixed with numbers: the lexer reads `$` only alone.
                (SeqBound::Saved, _) | (_, SeqBound::Saved) => return SequenceSet::saved(),
            }
        }
        let mut out: Vec<(SeqBound, SeqBound)> = merge_ranges(nums)
            .into_iter()
            .map(|(a, b)| (SeqBound::Num(a), SeqBound::Num(b)))
            .collect();
        match star_from {
            Some((lo, hi)) => {
                out.push((SeqBound::Num(lo), SeqBound::Star));
                if hi != lo {
                    out.push((SeqBound::Num(hi), SeqBound::Star));
                }
            }
            None if bare_star => out.push((SeqBound::Star, SeqBound::Star)),
            None => {}
        }
        SequenceSet(out)
    }

    /// The numbers the set names with `*` standing for `star`, as sorted, disjoint
    /// inclusive ranges. Ranges with `*` are left out when `star` is None (an
    /// empty mailbox, where `*` names nothing). Cost: O(r log r) for r ranges.
    pub fn ranges(&self, star: Option<u32>) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            let value = |x: SeqBound| match x {
                SeqBound::Num(n) => Some(n),
                SeqBound::Star => star,
                // The session substitutes the saved result before asking.
                SeqBound::Saved => None,
            };
            if let (Some(a), Some(b)) = (value(a), value(b)) {
                v.push((a.min(b), a.max(b)));
            }
        }
        merge_ranges(v)
    }
}

/// Sort inclusive ranges and merge overlapping or adjacent ones.
pub fn merge_ranges(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Whether `n` lies in one of `ranges` (sorted and disjoint, as [`SequenceSet::ranges`] gives).
pub fn ranges_contain(ranges: &[(u32, u32)], n: u32) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi < n);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    HighestModSeq,
    Size,
    AppendLimit,
    /// Messages with \Deleted (RFC 9051 6.3.11).
    Deleted,
    /// RFC 8474.
    MailboxId,
}

impl StatusItem {
    pub fn name(&self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::Size => "SIZE",
            StatusItem::AppendLimit => "APPENDLIMIT",
            StatusItem::Deleted => "DELETED",
            StatusItem::MailboxId => "MAILBOXID",
        }
    }
}

/// QRESYNC parameters of SELECT/EXAMINE (RFC 7162 3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    pub uid_validity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// (sequence numbers, UIDs) the client knows correspond.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QresyncParams>,
}

/// LIST-EXTENDED selection options (RFC 5258) plus SPECIAL-USE (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelect {
    pub subscribed: bool,
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// LIST-EXTENDED return options (RFC 5258, 5819, 6154).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    pub status: Option<Vec<StatusItem>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    pub reference: Vec<u8>,
    pub patterns: Vec<Vec<u8>>,
    pub select: ListSelect,
    pub ret: ListReturn,
    /// The command was LSUB.
    pub lsub: bool,
    /// The command was XLIST (old Outlook / Gmail style).
    pub xlist: bool,
    /// Selection or return options were given (answers use extended attributes).
    pub extended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    Mime,
}

/// A body section specifier: part path (empty for the whole message) and text part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

impl Section {
    /// The canonical spelling for the response (`1.HEADER.FIELDS (FROM TO)`).
    pub fn render(&self) -> String {
        let mut s = self
            .part
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".");
        if let Some(text) = &self.text {
            if !s.is_empty() {
                s.push('.');
            }
            match text {
                SectionText::Header => s.push_str("HEADER"),
                SectionText::Text => s.push_str("TEXT"),
                SectionText::Mime => s.push_str("MIME"),
                SectionText::HeaderFields(f) => {
                    s.push_str("HEADER.FIELDS ");
                    header_list(&mut s, f);
                }
                SectionText::HeaderFieldsNot(f) => {
                    s.push_str("HEADER.FIELDS.NOT ");
                    header_list(&mut s, f);
                }
            }
        }
        s
    }
}

/// `(From "X(odd)")`: names kept as the client sent them, quoted when they are not
/// atoms, so the echoed section is one token a client can parse (`)`, `{N}` or `"`
/// in a bare name would end the list, announce a literal or open a string).
fn header_list(s: &mut String, names: &[String]) {
    s.push('(');
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        if !name.is_empty() && name.bytes().all(super::is_atom_char) {
            s.push_str(name);
        } else {
            s.push('"');
            for ch in name.chars() {
                if ch == '"' || ch == '\\' {
                    s.push('\\');
                }
                s.push(ch);
            }
            s.push('"');
        }
    }
    s.push(')');
}

/// `<start.count>`
pub type Partial = Option<(u64, u64)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    Uid,
    /// BODY without a section: the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    ModSeq,
    BodySection {
        peek: bool,
        section: Section,
        partial: Partial,
    },
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Partial,
    },
    BinarySize(Vec<u32>),
    /// RFC 8514.
    SaveDate,
    /// RFC 8474.
    EmailId,
    ThreadId,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchModifiers {
    pub changed_since: Option<u64>,
    pub vanished: bool,
    /// PARTIAL (RFC 9394): positions within the messages the set names.
    pub partial: Option<(i64, i64)>,
}

/// SEARCH criteria as sent (RFC 3501 6.4.4 plus RFC 7162 MODSEQ).
#[derive(Debug, Clone, PartialEq)]
pub enum SearchKey {
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    New,
    Old,
    Recent,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    Keyword(String),
    Unkeyword(String),
    Bcc(Vec<u8>),
    Cc(Vec<u8>),
    From(Vec<u8>),
    To(Vec<u8>),
    Subject(Vec<u8>),
    Body(Vec<u8>),
    Text(Vec<u8>),
    Header(String, Vec<u8>),
    Before(NaiveDate),
    On(NaiveDate),
    Since(NaiveDate),
    SentBefore(NaiveDate),
    SentOn(NaiveDate),
    SentSince(NaiveDate),
    Larger(u64),
    Smaller(u64),
    Uid(SequenceSet),
    SeqSet(SequenceSet),
    ModSeq(u64),
    /// RFC 8514.
    SavedBefore(NaiveDate),
    SavedOn(NaiveDate),
    SavedSince(NaiveDate),
    SaveDateSupported,
    /// RFC 8474.
    EmailId(String),
    ThreadId(String),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

/// ESEARCH return options (RFC 4731), SAVE (RFC 5182), UPDATE/CONTEXT (RFC 5267)
/// and PARTIAL (RFC 9394).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    pub save: bool,
    pub update: bool,
    pub context: bool,
    /// Positions in the result, 1-based, low <= high; negative counts from the end.
    pub partial: Option<(i64, i64)>,
}

impl SearchReturn {
    /// Whether an ESEARCH answer is sent at all: not for SAVE alone (RFC 5182 2.1).
    pub fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count || self.update || self.partial.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate {
        mechanism: String,
        /// SASL-IR initial response, base64 as sent ("=" for empty).
        initial: Option<String>,
    },
    Login {
        username: String,
        password: String,
    },
    Select {
        mailbox: Vec<u8>,
        readonly: bool,
        params: SelectParams,
    },
    Create {
        mailbox: Vec<u8>,
        special_use: Vec<String>,
    },
    Delete(Vec<u8>),
    Rename {
        from: Vec<u8>,
        to: Vec<u8>,
    },
    Subscribe(Vec<u8>),
    Unsubscribe(Vec<u8>),
    List(ListCommand),
    Status {
        mailbox: Vec<u8>,
        items: Vec<StatusItem>,
    },
    /// RFC 5464. `mailbox` empty: the server's entries.
    GetMetadata {
        mailbox: Vec<u8>,
        maxsize: Option<u64>,
        depth: MetadataDepthArg,
        entries: Vec<String>,
    },
    SetMetadata {
        mailbox: Vec<u8>,
        /// Entry name and value (None: NIL, remove).
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// RFC 4467: (URL, mechanism) pairs.
    GenUrlAuth(Vec<(Vec<u8>, String)>),
    /// RFC 4467: one mailbox's key, or (None) all of them.
    ResetKey(Option<Vec<u8>>),
    UrlFetch(Vec<Vec<u8>>),
    /// APPEND with one message, or several (MULTIAPPEND, RFC 3502).
    Append {
        mailbox: Vec<u8>,
        messages: Vec<AppendMessage>,
    },
    Check,
    Close,
    Unselect,
    Expunge {
        uids: Option<SequenceSet>,
    },
    Search {
        uid: bool,
        charset: Option<String>,
        criteria: SearchKey,
        /// Some for `SEARCH RETURN (...)` (ESEARCH answers).
        ret: Option<SearchReturn>,
    },
    Sort {
        uid: bool,
        ret: Option<SearchReturn>,
        program: Vec<eider_service::SortCriterion>,
        charset: String,
        criteria: SearchKey,
    },
    Thread {
        uid: bool,
        algorithm: eider_service::ThreadAlgorithm,
        charset: String,
        criteria: SearchKey,
    },
    /// CANCELUPDATE (RFC 5267): the tags of searches whose updates stop.
    CancelUpdate(Vec<String>),
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchAtt>,
        modifiers: FetchModifiers,
        /// The item list was a macro or a single item without parentheses.
        macro_or_single: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        unchanged_since: Option<u64>,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Vec<u8>,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: Vec<u8>,
    },
    Idle,
    Enable(Vec<String>),
    Id(Option<Vec<(String, Option<String>)>>),
    Namespace,
    GetQuota(Vec<u8>),
    GetQuotaRoot(Vec<u8>),
    SetQuota(Vec<u8>),
    Compress(String),
    Notify(NotifyCommand),
}

impl Command {
    /// The command's name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Capability => "CAPABILITY",
            Command::Noop => "NOOP",
            Command::Logout => "LOGOUT",
            Command::StartTls => "STARTTLS",
            Command::Authenticate { .. } => "AUTHENTICATE",
            Command::Login { .. } => "LOGIN",
            Command::Select {
                readonly: false, ..
            } => "SELECT",
            Command::Select { readonly: true, .. } => "EXAMINE",
            Command::Create { .. } => "CREATE",
            Command::Delete(_) => "DELETE",
            Command::Rename { .. } => "RENAME",
            Command::Subscribe(_) => "SUBSCRIBE",
            Command::Unsubscribe(_) => "UNSUBSCRIBE",
            Command::List(l) if l.lsub => "LSUB",
            Command::List(l) if l.xlist => "XLIST",
            Command::List(_) => "LIST",
            Command::Status { .. } => "STATUS",
            Command::GetMetadata { .. } => "GETMETADATA",
            Command::SetMetadata { .. } => "SETMETADATA",
            Command::GenUrlAuth(_) => "GENURLAUTH",
            Command::ResetKey(_) => "RESETKEY",
            Command::UrlFetch(_) => "URLFETCH",
            Command::Append { .. } => "APPEND",
            Command::Check => "CHECK",
            Command::Close => "CLOSE",
            Command::Unselect => "UNSELECT",
            Command::Expunge { .. } => "EXPUNGE",
            Command::Search { .. } => "SEARCH",
            Command::Sort { .. } => "SORT",
            Command::Thread { .. } => "THREAD",
            Command::CancelUpdate(_) => "CANCELUPDATE",
            Command::Fetch { .. } => "FETCH",
            Command::Store { .. } => "STORE",
            Command::Copy { .. } => "COPY",
            Command::Move { .. } => "MOVE",
            Command::Idle => "IDLE",
            Command::Enable(_) => "ENABLE",
            Command::Id(_) => "ID",
            Command::Namespace => "NAMESPACE",
            Command::GetQuota(_) => "GETQUOTA",
            Command::GetQuotaRoot(_) => "GETQUOTAROOT",
            Command::SetQuota(_) => "SETQUOTA",
            Command::Compress(_) => "COMPRESS",
            Command::Notify(_) => "NOTIFY",
        }
    }
}

/// Which mailboxes a NOTIFY event group covers (RFC 5465 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    /// The named mailboxes and everything below them.
    Subtree(Vec<Vec<u8>>),
    Mailboxes(Vec<Vec<u8>>),
}

/// A NOTIFY event (RFC 5465 5; METADATA's two from RFC 5464).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the FETCH attributes to send for each new message (selected mailbox only).
    MessageNew(Vec<FetchAtt>),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadata,
    ServerMetadata,
}

impl NotifyEvent {
    pub fn name(&self) -> &'static str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadata => "MailboxMetadata",
            NotifyEvent::ServerMetadata => "ServerMetadata",
        }
    }
}

/// One `(filter events)` group; no events means NONE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySpec {
    pub filter: NotifyFilter,
    pub events: Vec<NotifyEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyCommand {
    None,
    Set {
        /// Send the STATUS of the watched mailboxes now.
        status: bool,
        specs: Vec<NotifySpec>,
    },
}

/// One message of an APPEND: its flags, date and content.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendMessage {
    pub flags: Vec<String>,
    pub date: Option<DateTime<FixedOffset>>,
    pub content: AppendContent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AppendContent {
    /// The message in one literal (`UTF8 (~{n})` too).
    Literal(Vec<u8>),
    /// CATENATE (RFC 4469): text literals and IMAP URLs of stored parts, in order.
    Catenate(Vec<CatenatePart>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CatenatePart {
    Text(Vec<u8>),
    Url(Vec<u8>),
}

/// GETMETADATA's DEPTH option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetadataDepthArg {
    #[default]
    Zero,
    One,
    Infinity,
}
