//! SORT (RFC 5256, 5957) and THREAD (RFC 5256 ORDEREDSUBJECT and REFERENCES):
//! the ordering and threading rules, over the small per-message rows the store
//! keeps ([`SortRow`]); no message content is read, except once for rows stored
//! before the keys existed (the lazy backfill below).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::Service;
use crate::model::{SortKeys, SortRow, UidSet};
use crate::{ObjectId, Result};

/// A SORT key (RFC 5256 section 3, RFC 5957 DISPLAYFROM/DISPLAYTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// One key of a sort program, optionally REVERSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub key: SortKey,
    pub reverse: bool,
}

/// The THREAD algorithms offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

/// A node of a thread tree. `uid` is None for a dummy (a message referenced but not
/// in the set, kept to join its children: RFC 5256 renders it as a nested list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNode {
    pub uid: Option<u32>,
    pub children: Vec<ThreadNode>,
}

/// Backfilled keys written per store call (each call is one write transaction).
const BACKFILL_BATCH: usize = 500;

/// A row with its keys resolved.
struct Row {
    uid: u32,
    arrival: i64,
    size: u64,
    /// Sent date in ms: the Date: header, else the internal date (RFC 5256 2.2).
    sent: i64,
    message_id: Option<String>,
    keys: SortKeys,
}

impl Row {
    fn new(r: SortRow) -> Self {
        let keys = r.keys.unwrap_or_default();
        let arrival = r.internal_date.timestamp_millis();
        Row {
            uid: r.uid,
            arrival,
            size: r.size,
            sent: keys.date.map_or(arrival, |secs| secs.saturating_mul(1000)),
            message_id: r.message_id,
            keys,
        }
    }
}

fn compare(a: &Row, b: &Row, key: SortKey) -> Ordering {
    match key {
        SortKey::Arrival => a.arrival.cmp(&b.arrival),
        SortKey::Cc => a.keys.cc.cmp(&b.keys.cc),
        SortKey::Date => a.sent.cmp(&b.sent),
        SortKey::From => a.keys.from.cmp(&b.keys.from),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Subject => a.keys.subject.cmp(&b.keys.subject),
        SortKey::To => a.keys.to.cmp(&b.keys.to),
        SortKey::DisplayFrom => a.keys.display_from.cmp(&b.keys.display_from),
        SortKey::DisplayTo => a.keys.display_to.cmp(&b.keys.display_to),
    }
}

/// Order rows by the program; ties fall to UID order, which is sequence order
/// (RFC 5256: "the sequence number of the message").
fn sort_rows(rows: &mut [Row], program: &[SortCriterion]) {
    rows.sort_by(|a, b| {
        for c in program {
            let o = compare(a, b, c.key);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.uid.cmp(&b.uid)
    });
}

/// Order of siblings in a thread: sent date, then UID (sequence order).
fn by_date(a: &Row) -> (i64, u32) {
    (a.sent, a.uid)
}

fn ordered_subject(mut rows: Vec<Row>) -> Vec<ThreadNode> {
    rows.sort_by(|a, b| {
        a.keys
            .subject
            .cmp(&b.keys.subject)
            .then_with(|| by_date(a).cmp(&by_date(b)))
    });
    let mut threads: Vec<((i64, u32), ThreadNode)> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let mut j = i + 1;
        while j < rows.len() && rows[j].keys.subject == rows[i].keys.subject {
            j += 1;
        }
        let children = rows[i + 1..j]
            .iter()
            .map(|r| ThreadNode {
                uid: Some(r.uid),
                children: Vec::new(),
            })
            .collect();
        threads.push((
            by_date(&rows[i]),
            ThreadNode {
                uid: Some(rows[i].uid),
                children,
            },
        ));
        i = j;
    }
    threads.sort_by_key(|t| t.0);
    threads.into_iter().map(|t| t.1).collect()
}

/// THREAD=REFERENCES (RFC 5256 section 4) over an arena of containers.
struct Arena {
    /// Row index of a container's message; None for a dummy.
    msg: Vec<Option<usize>>,
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
}

impl Arena {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.msg.push(msg);
        self.parent.push(None);
        self.children.push(Vec::new());
        self.msg.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut cur = Some(b);
        while let Some(c) = cur {
            if c == a {
                return true;
            }
            cur = self.parent[c];
        }
        false
    }

    fn link(&mut self, parent: usize, child: usize) {
        if let Some(old) = self.parent[child] {
            self.children[old].retain(|&c| c != child);
        }
        self.parent[child] = Some(parent);
        self.children[parent].push(child);
    }
}

fn references(rows: Vec<Row>) -> Vec<ThreadNode> {
    let mut a = Arena {
        msg: Vec::new(),
        parent: Vec::new(),
        children: Vec::new(),
    };
    let mut ids: HashMap<String, usize> = HashMap::new();
    // Step 1: one container per message id; references linked oldest to newest.
    for (i, row) in rows.iter().enumerate() {
        let own = match row.message_id.as_deref().filter(|m| !m.is_empty()) {
            Some(mid) => match ids.get(mid) {
                Some(&c) if a.msg[c].is_none() => {
                    a.msg[c] = Some(i);
                    c
                }
                // A duplicate (or missing) id: this message is unique (1.A).
                Some(_) => a.add(Some(i)),
                None => {
                    let c = a.add(Some(i));
                    ids.insert(mid.to_string(), c);
                    c
                }
            },
            None => a.add(Some(i)),
        };
        let mut prev: Option<usize> = None;
        for r in &row.keys.refs {
            let c = match ids.get(r) {
                Some(&c) => c,
                None => {
                    let c = a.add(None);
                    ids.insert(r.clone(), c);
                    c
                }
            };
            // 1.B: link each pair unless the child has a parent or a loop would form.
            if let Some(p) = prev {
                if p != c && a.parent[c].is_none() && !a.is_ancestor(c, p) {
                    a.link(p, c);
                }
            }
            prev = Some(c);
        }
        // 1.C: the last reference is the parent, replacing any earlier guess.
        match prev {
            Some(p) if p != own && !a.is_ancestor(own, p) => a.link(p, own),
            _ => {
                if let Some(old) = a.parent[own].take() {
                    a.children[old].retain(|&c| c != own);
                }
            }
        }
    }
    // Step 2: the root set.
    let roots: Vec<usize> = (0..a.msg.len())
        .filter(|&c| a.parent[c].is_none())
        .collect();
    // Steps 4 and 5: prune dummies, then sort.
    let mut top: Vec<usize> = Vec::new();
    for r in roots {
        prune(&mut a, r, true, &mut top);
    }
    let date = |a: &Arena, c: usize| -> (i64, u32) {
        match a.msg[c] {
            Some(i) => by_date(&rows[i]),
            None => a.children[c]
                .first()
                .and_then(|&f| a.msg[f].map(|i| by_date(&rows[i])))
                .unwrap_or((i64::MAX, u32::MAX)),
        }
    };
    for &t in &top {
        sort_tree(&mut a, t, &rows);
    }
    top.sort_by_key(|&c| date(&a, c));
    // Step 6: threads with the same base subject are merged.
    let subject_of = |a: &Arena, c: usize| -> Option<usize> {
        match a.msg[c] {
            Some(i) => Some(i),
            None => a.children[c].first().and_then(|&f| a.msg[f]),
        }
    };
    let mut table: HashMap<&str, usize> = HashMap::new();
    for &t in &top {
        let Some(i) = subject_of(&a, t) else { continue };
        let s = rows[i].keys.subject.as_str();
        if s.is_empty() {
            continue;
        }
        match table.get(s) {
            None => {
                table.insert(s, t);
            }
            Some(&old) => {
                let old_dummy = a.msg[old].is_none();
                let old_reply = a.msg[old].is_some_and(|o| rows[o].keys.reply);
                if (a.msg[t].is_none() && !old_dummy)
                    || (old_reply && a.msg[t].is_some_and(|m| !rows[m].keys.reply))
                {
                    table.insert(s, t);
                }
            }
        }
    }
    let mut table: HashMap<String, usize> =
        table.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let mut removed = vec![false; a.msg.len()];
    let mut extra: Vec<usize> = Vec::new();
    for &t in &top {
        if removed[t] {
            continue;
        }
        let Some(i) = subject_of(&a, t) else { continue };
        let s = rows[i].keys.subject.clone();
        let Some(&target) = table.get(&s).filter(|_| !s.is_empty()) else {
            continue;
        };
        if target == t {
            continue;
        }
        let t_dummy = a.msg[t].is_none();
        let target_dummy = a.msg[target].is_none();
        let t_reply = a.msg[t].is_some_and(|m| rows[m].keys.reply);
        let target_reply = a.msg[target].is_some_and(|m| rows[m].keys.reply);
        if t_dummy && target_dummy {
            for k in std::mem::take(&mut a.children[t]) {
                a.link(target, k);
            }
        } else if target_dummy || (!target_reply && t_reply) {
            a.link(target, t);
        } else {
            // Neither joins the other: a new dummy holds both, in the table's place.
            let d = a.add(None);
            removed.push(false);
            a.link(d, target);
            a.link(d, t);
            removed[target] = true;
            table.insert(s, d);
            extra.push(d);
        }
        removed[t] = true;
    }
    let mut merged_top: Vec<usize> = top
        .iter()
        .chain(extra.iter())
        .copied()
        .filter(|&t| !removed[t])
        .collect();
    merged_top.dedup();
    // Step 7: siblings sorted by date everywhere, the top level too.
    for &t in &merged_top {
        sort_tree(&mut a, t, &rows);
    }
    merged_top.sort_by_key(|&c| date(&a, c));
    merged_top.iter().map(|&t| build(&a, t, &rows)).collect()
}

/// RFC 5256 step 4 for the subtree at `c`: dummies without children go, dummies
/// with children give them to their parent's level, except a dummy at the top
/// with more than one child. The surviving top-level containers go to `out`.
fn prune(a: &mut Arena, c: usize, top: bool, out: &mut Vec<usize>) {
    let kids = std::mem::take(&mut a.children[c]);
    let mut kept = Vec::new();
    for k in kids {
        prune(a, k, false, &mut kept);
    }
    if a.msg[c].is_none() && (kept.is_empty() || !top || kept.len() == 1) {
        // The dummy goes; its children take its place.
        for &k in &kept {
            a.parent[k] = None;
        }
        out.extend(kept);
        return;
    }
    for &k in &kept {
        a.parent[k] = Some(c);
    }
    a.children[c] = kept;
    out.push(c);
}

/// Sort the children of every node under `c` by sent date; a dummy's place is its
/// first child's date.
fn sort_tree(a: &mut Arena, c: usize, rows: &[Row]) {
    let kids = a.children[c].clone();
    for &k in &kids {
        sort_tree(a, k, rows);
    }
    let key = |a: &Arena, k: usize| -> (i64, u32) {
        match a.msg[k] {
            Some(i) => by_date(&rows[i]),
            None => a.children[k]
                .first()
                .and_then(|&f| a.msg[f].map(|i| by_date(&rows[i])))
                .unwrap_or((i64::MAX, u32::MAX)),
        }
    };
    let mut sorted = kids;
    sorted.sort_by_key(|&k| key(a, k));
    a.children[c] = sorted;
}

fn build(a: &Arena, c: usize, rows: &[Row]) -> ThreadNode {
    ThreadNode {
        uid: a.msg[c].map(|i| rows[i].uid),
        children: a.children[c].iter().map(|&k| build(a, k, rows)).collect(),
    }
}

impl Service {
    /// The rows of `uids` with every key present: rows stored before the keys
    /// existed get them from their stored index, and the store keeps them.
    async fn sort_input(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &[u32],
    ) -> Result<Vec<Row>> {
        self.get_mailbox(user, mailbox).await?;
        let rows = self
            .timed(
                "sort_rows",
                self.store()
                    .sort_rows(mailbox, &UidSet::from_uids(uids.iter().copied())),
            )
            .await?;
        let mut filled: Vec<(u32, SortKeys)> = Vec::new();
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            if r.keys.is_none() {
                if let Some(m) = self.store().get_message(mailbox, r.uid).await? {
                    let k = m.index.sort_keys();
                    filled.push((r.uid, k.clone()));
                    r.keys = Some(k);
                }
            }
            out.push(Row::new(r));
        }
        for batch in filled.chunks(BACKFILL_BATCH) {
            self.store().set_sort_keys(mailbox, batch).await?;
        }
        Ok(out)
    }

    /// SORT: `uids` (the messages a search matched) in the order of `program`.
    pub async fn sort_messages(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &[u32],
        program: &[SortCriterion],
    ) -> Result<Vec<u32>> {
        let mut rows = self.sort_input(user, mailbox, uids).await?;
        sort_rows(&mut rows, program);
        Ok(rows.into_iter().map(|r| r.uid).collect())
    }

    /// THREAD: the messages `uids` as threads, in the RFC's order.
    pub async fn thread_messages(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &[u32],
        algorithm: ThreadAlgorithm,
    ) -> Result<Vec<ThreadNode>> {
        let rows = self.sort_input(user, mailbox, uids).await?;
        Ok(match algorithm {
            ThreadAlgorithm::OrderedSubject => ordered_subject(rows),
            ThreadAlgorithm::References => references(rows),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: u32, subject: &str, date: i64, mid: &str, refs: &[&str]) -> Row {
        let (reply, base) = (
            subject.to_ascii_lowercase().starts_with("re:"),
            eider_message::base_subject(subject).to_ascii_uppercase(),
        );
        Row {
            uid,
            arrival: i64::from(uid),
            size: 0,
            sent: date,
            message_id: (!mid.is_empty()).then(|| mid.to_string()),
            keys: SortKeys {
                subject: base,
                refs: refs.iter().map(|s| s.to_string()).collect(),
                reply,
                ..Default::default()
            },
        }
    }

    fn render(nodes: &[ThreadNode]) -> String {
        fn inline(n: &ThreadNode, out: &mut String) {
            if let Some(u) = n.uid {
                out.push_str(&u.to_string());
            }
            match n.children.len() {
                0 => {}
                1 => {
                    if n.uid.is_some() {
                        out.push(' ');
                    }
                    inline(&n.children[0], out);
                }
                _ => {
                    if n.uid.is_some() {
                        out.push(' ');
                    }
                    for c in &n.children {
                        out.push('(');
                        inline(c, out);
                        out.push(')');
                    }
                }
            }
        }
        let mut s = String::new();
        for n in nodes {
            s.push('(');
            inline(n, &mut s);
            s.push(')');
        }
        s
    }

    #[test]
    fn sort_program_with_reverse_and_ties() {
        let mut rows = vec![
            row(1, "b", 30, "", &[]),
            row(2, "a", 10, "", &[]),
            row(3, "Re: b", 20, "", &[]),
        ];
        let subj = SortCriterion {
            key: SortKey::Subject,
            reverse: false,
        };
        sort_rows(&mut rows, &[subj]);
        assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), [2, 1, 3]);
        let date_rev = SortCriterion {
            key: SortKey::Date,
            reverse: true,
        };
        sort_rows(&mut rows, &[subj, date_rev]);
        assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), [2, 1, 3]);
        sort_rows(&mut rows, &[date_rev]);
        assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), [1, 3, 2]);
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let rows = vec![
            row(1, "x", 10, "", &[]),
            row(2, "y", 5, "", &[]),
            row(3, "Re: x", 30, "", &[]),
            row(4, "Re: x", 20, "", &[]),
            row(5, "Re: y", 1, "", &[]),
        ];
        // Threads by their first message's date; y's first is 5 (date 1).
        assert_eq!(render(&ordered_subject(rows)), "(5 2)(1 (4)(3))");
    }

    #[test]
    fn references_builds_trees_with_dummies() {
        let rows = vec![
            row(1, "a", 10, "a@x", &[]),
            row(2, "Re: a", 20, "b@x", &["a@x"]),
            row(3, "Re: a", 30, "c@x", &["a@x", "b@x"]),
            row(4, "Re: a", 25, "d@x", &["a@x"]),
            // Two replies to a message not in the set: a dummy root with two children.
            row(5, "other", 40, "e@x", &["gone@x"]),
            row(6, "different", 50, "f@x", &["gone@x"]),
            // No references, same base subject as 1: merged under 1 (step 6).
            row(7, "Re: a", 60, "g@x", &[]),
        ];
        assert_eq!(render(&references(rows)), "(1 (2 3)(4)(7))((5)(6))");
    }

    #[test]
    fn references_survives_loops_and_duplicates() {
        let rows = vec![
            row(1, "a", 10, "a@x", &["b@x"]),
            row(2, "b", 20, "b@x", &["a@x"]),
            row(3, "c", 30, "a@x", &[]),
            row(4, "d", 40, "", &[]),
        ];
        let out = render(&references(rows));
        assert!(out.contains('1') && out.contains('2') && out.contains('3') && out.contains('4'));
    }
}
