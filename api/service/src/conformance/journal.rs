//! Rules for journal pruning, mailbox events in a mailbox's journal and the thread
//! records' lifecycle (issue #22). Pruning is store-wide, so `run_all` runs these last.

use std::time::Duration;

use chrono::Utc;

use super::{account, append, mailbox_record, request, simple};
use crate::model::*;
use crate::{ObjectId, Store};

pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        journal_carries_mailbox_events,
        parallel_thread_resolution,
        journal_prune,
        orphan_threads_purged,
    ]
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Renames and deletions appear in the mailbox's own journal with a MODSEQ past the
/// last one a reader saw, so `journal_since` carries them.
pub async fn journal_carries_mailbox_events<S: Store>(s: &S) {
    let a = account(s, "jevents").await;
    let u = a.user.id;
    let work = mailbox_record(u, "Work", None);
    s.create_mailbox(&work).await.expect("create");
    let m = append(s, u, work.id, &simple(1), &[]).await;
    s.rename_mailboxes(u, &[(work.id, "Projects".to_string())])
        .await
        .expect("rename");
    let j = s.journal_since(work.id, m.modseq).await.expect("journal");
    assert_eq!(j.len(), 1, "the rename follows the append: {j:?}");
    assert_eq!(j[0].kind, JournalKind::MailboxRename);
    assert_eq!(j[0].path.as_deref(), Some("Projects"));
    assert!(j[0].modseq > m.modseq, "a rename takes the next MODSEQ");
    let renamed = s
        .get_mailbox(u, work.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        renamed.modify_index, j[0].modseq,
        "HIGHESTMODSEQ moved with it"
    );
    let seen = j[0].modseq;
    assert!(s.delete_mailbox(u, work.id).await.expect("delete"));
    let j = s.journal_since(work.id, seen).await.expect("journal");
    assert_eq!(
        j.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![JournalKind::MailboxDelete],
        "the deletion is the last word of the mailbox's journal"
    );
    assert!(j[0].modseq > seen);
}

/// Entries older than the cut go, each mailbox's up to a MODSEQ that becomes its
/// floor; newer entries stay; pruning again changes nothing.
pub async fn journal_prune<S: Store>(s: &S) {
    let a = account(s, "jprune").await;
    let (u, inbox) = (a.user.id, a.inbox.id);
    append(s, u, inbox, &simple(1), &[]).await;
    append(s, u, inbox, &simple(2), &[]).await;
    s.update_flags(
        inbox,
        &UidSet::from_uids([1]),
        &FlagUpdate {
            op: FlagOp::Add,
            flags: vec!["\\Seen".into()],
            unchanged_since: None,
        },
    )
    .await
    .expect("flags");
    s.expunge(inbox, &UidSet::from_uids([2]), false)
        .await
        .expect("expunge");
    let old_top = s
        .get_mailbox(u, inbox)
        .await
        .expect("get")
        .expect("inbox")
        .modify_index;
    assert_eq!(s.journal_floor(inbox).await.expect("floor"), 0);
    // Dates are stored to the millisecond: keep the cut clear of both sides.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cut = Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let kept = append(s, u, inbox, &simple(3), &[]).await;

    let mut pruned = 0;
    loop {
        // Small batches: the job's loop, and the cut inside a batch.
        let n = s.prune_journal(cut, 3).await.expect("prune");
        if n == 0 {
            break;
        }
        pruned += n;
    }
    assert!(
        pruned >= 4,
        "at least this mailbox's four old entries: {pruned}"
    );
    assert_eq!(
        s.journal_floor(inbox).await.expect("floor"),
        old_top,
        "the floor is the highest pruned MODSEQ"
    );
    let j = s.journal_since(inbox, 0).await.expect("journal");
    assert_eq!(
        j.iter().map(|e| (e.kind, e.uid)).collect::<Vec<_>>(),
        vec![(JournalKind::Exists, Some(kept.uid))],
        "only the entry after the cut is left"
    );
    assert_eq!(s.prune_journal(cut, 100).await.expect("again"), 0);
    assert_eq!(s.journal_since(inbox, 0).await.expect("journal").len(), 1);
    assert_eq!(s.journal_floor(inbox).await.expect("floor"), old_top);
    // The messages themselves are untouched.
    let live = s
        .list_messages(inbox, &UidSet::all(), SortOrder::Ascending, 0)
        .await
        .expect("list");
    assert_eq!(
        live.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, kept.uid]
    );
    // An unknown mailbox has no floor.
    assert_eq!(s.journal_floor(ObjectId::new()).await.expect("floor"), 0);
}

/// Concurrent first messages of one conversation resolve to one thread (MongoDB
/// resolves outside the append's transaction).
pub async fn parallel_thread_resolution<S: Store>(s: &S) {
    let a = account(s, "jthreads").await;
    let u = a.user.id;
    let calls = (0..8).map(|i| {
        let refs = if i % 2 == 0 {
            ids(&["root@par"])
        } else {
            ids(&["root@par", &format!("reply{i}@par")])
        };
        async move { s.resolve_thread(u, "", &refs).await.expect("resolve") }
    });
    let threads = futures::future::join_all(calls).await;
    assert!(
        threads.iter().all(|t| *t == threads[0]),
        "one thread for one conversation: {threads:?}"
    );
    for i in [1, 3, 5, 7] {
        let id = format!("reply{i}@par");
        assert_eq!(
            s.resolve_thread(u, "", &ids(&[&id]))
                .await
                .expect("resolve"),
            threads[0],
            "a later reply to {id} joins the same thread"
        );
    }
}

/// Threads without messages that were not updated since the cut are purged with
/// their Message-ID links; a thread with a message, or a recent one, stays.
pub async fn orphan_threads_purged<S: Store>(s: &S) {
    let a = account(s, "jorphans").await;
    let (u, inbox) = (a.user.id, a.inbox.id);
    let used = s.resolve_thread(u, "", &ids(&["used@o"])).await.expect("t");
    let mut r = request(u, inbox, &simple(1), &[]);
    r.thread = ThreadRef::Id(used);
    s.append(r).await.expect("append");
    let orphan = s
        .resolve_thread(u, "", &ids(&["orphan@o"]))
        .await
        .expect("t");
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cut = Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let fresh = s
        .resolve_thread(u, "", &ids(&["fresh@o"]))
        .await
        .expect("t");

    let (mut purged, mut after) = (0, None);
    loop {
        let (n, next) = s.purge_orphan_threads(cut, after, 2).await.expect("purge");
        purged += n;
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert!(purged >= 1, "the orphan went");
    assert_eq!(
        s.resolve_thread(u, "", &ids(&["used@o"])).await.expect("t"),
        used,
        "a thread with a message stays"
    );
    assert_eq!(
        s.resolve_thread(u, "", &ids(&["fresh@o"]))
            .await
            .expect("t"),
        fresh,
        "a thread updated after the cut stays"
    );
    assert_ne!(
        s.resolve_thread(u, "", &ids(&["orphan@o"]))
            .await
            .expect("t"),
        orphan,
        "the orphan's Message-ID link went with it"
    );
}
