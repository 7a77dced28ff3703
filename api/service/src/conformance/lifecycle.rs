//! Rules for the mail lifecycle stores: leases, the archive of deleted messages and
//! users deleted with a grace period. Run by `conformance::run_all`.

use std::time::Duration;

use chrono::Utc;

use super::{
    account, address_record, append, assert_counters, attachment_message, is_conflict, noise,
    raw_of, simple, storage, unique, user_record,
};
use crate::model::*;
use crate::{ArchivePaging, ObjectId, Store, StoreError};

/// A lease has one holder at a time; its holder renews and releases it; a holder
/// that stops renewing loses it when it expires.
pub async fn leases<S: Store>(s: &S) {
    let name = unique("lease.");
    let long = Duration::from_secs(60);
    assert!(s.try_acquire(&name, "a", long).await.expect("acquire"));
    assert!(
        !s.try_acquire(&name, "b", long).await.expect("acquire"),
        "held by a"
    );
    assert!(
        s.try_acquire(&name, "a", long).await.expect("re-acquire"),
        "a holds it already"
    );
    assert!(s.renew(&name, "a", long).await.expect("renew"));
    assert!(
        !s.renew(&name, "b", long).await.expect("renew"),
        "b does not hold it"
    );
    assert!(
        !s.release(&name, "b").await.expect("release"),
        "b cannot release it"
    );
    assert!(s.release(&name, "a").await.expect("release"));
    assert!(
        s.try_acquire(&name, "b", long).await.expect("acquire"),
        "free after release"
    );
    // A crashed holder: a short lease that is never renewed.
    let other = unique("lease.");
    assert!(s
        .try_acquire(&other, "crashed", Duration::from_millis(200))
        .await
        .expect("acquire"));
    assert!(!s.try_acquire(&other, "next", long).await.expect("acquire"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        s.try_acquire(&other, "next", long).await.expect("acquire"),
        "an expired lease is free"
    );
    assert!(
        !s.renew(&other, "crashed", long).await.expect("renew"),
        "it was taken over"
    );
}

fn paging(limit: u32, order: SortOrder) -> ArchivePaging {
    ArchivePaging {
        limit,
        order,
        next: None,
        previous: None,
    }
}

/// Archiving expunges like expunge (counters, quota, journal) but keeps the message,
/// its content and blobs until purged; drafts are not archived; a restore puts it back
/// with a new UID and counts it again; the purge frees what nothing else uses.
pub async fn archive<S: Store>(s: &S) {
    let a = account(s, "arch").await;
    let (user, inbox) = (a.user.id, a.inbox.id);
    let raw = attachment_message("Archived", &unique("arch."), &noise(40_000, 7), 76);
    let kept = append(s, user, inbox, &raw, &["\\Seen"]).await;
    // Counted before the draft, whose content goes when it is deleted.
    let blobs_before = s.blob_count().await.expect("blob count");
    let draft = append(s, user, inbox, &simple(1), &["\\Draft"]).await;
    let now = Utc::now();
    let later = now + chrono::Duration::days(25);
    let gone = s
        .expunge_archiving(
            inbox,
            &UidSet::from_uids([kept.uid, draft.uid]),
            false,
            now,
            later,
        )
        .await
        .expect("expunge archiving");
    assert_eq!(gone, vec![kept.uid, draft.uid]);
    assert_eq!(
        storage(s, user).await,
        0,
        "the archive counts against no quota"
    );
    assert_counters(s, inbox).await;
    let journal = s.journal_since(inbox, kept.modseq).await.expect("journal");
    assert!(
        journal
            .iter()
            .any(|e| e.kind == JournalKind::Expunge && e.uid == Some(kept.uid)),
        "an archived message is expunged from its mailbox: {journal:?}"
    );
    assert_eq!(
        s.blob_count().await.expect("blob count"),
        blobs_before,
        "archived content keeps its blobs, the draft's go"
    );
    let page = s
        .list_archived(user, &paging(10, SortOrder::Descending))
        .await
        .expect("list");
    assert_eq!(page.total, 1, "the draft was not archived");
    let entry = &page.results[0];
    assert_eq!(entry.message.meta.mailbox, inbox);
    assert_eq!(entry.message.meta.uid, kept.uid);
    assert_eq!(entry.message.index.subject, "Archived");
    assert_eq!(
        entry.purge_after.timestamp_millis(),
        later.timestamp_millis()
    );
    assert!(s
        .list_archived(ObjectId::new(), &paging(10, SortOrder::Descending))
        .await
        .expect("list")
        .results
        .is_empty());
    // Not yet due: nothing purged.
    assert_eq!(s.purge_archived(now, 0).await.expect("purge"), 0);
    assert_eq!(
        s.archived_between(user, now - chrono::Duration::seconds(5), now, 0)
            .await
            .expect("between"),
        vec![entry.id]
    );
    assert!(s
        .archived_between(user, later, later, 0)
        .await
        .expect("between")
        .is_empty());

    // Restore into the Archive folder: a new UID there, counted again, bytes intact.
    let restored = s
        .restore_archived(user, entry.id, a.archive.id)
        .await
        .expect("restore")
        .expect("entry exists");
    assert_eq!(restored.mailbox, a.archive.id);
    assert_eq!(raw_of(s, a.archive.id, restored.uid).await, raw);
    assert_eq!(storage(s, user).await, raw.len() as u64);
    assert_counters(s, a.archive.id).await;
    assert!(s
        .restore_archived(user, entry.id, inbox)
        .await
        .expect("restore again")
        .is_none());
    assert!(matches!(
        s.restore_archived(user, 999_999_999, ObjectId::new()).await,
        Ok(None)
    ));

    // Archive again, then purge when due: the content and its blobs go.
    s.expunge_archiving(
        a.archive.id,
        &UidSet::from_uids([restored.uid]),
        false,
        now,
        now,
    )
    .await
    .expect("archive again");
    let entry = s
        .list_archived(user, &paging(10, SortOrder::Descending))
        .await
        .expect("list")
        .results
        .remove(0);
    // The target mailbox must exist and be the user's.
    assert!(matches!(
        s.restore_archived(user, entry.id, ObjectId::new()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.purge_archived(now + chrono::Duration::seconds(1), 0)
            .await
            .expect("purge"),
        1
    );
    assert!(s.get_archived(user, entry.id).await.expect("get").is_none());
    assert!(
        s.blob_count().await.expect("blob count") < blobs_before,
        "purged content frees its blobs"
    );
}

/// The archive pages by its ids in either order, with next and previous cursors.
pub async fn archive_paging<S: Store>(s: &S) {
    let a = account(s, "archpage").await;
    let (user, inbox) = (a.user.id, a.inbox.id);
    let mut uids = Vec::new();
    for n in 0..5 {
        uids.push(append(s, user, inbox, &simple(n), &[]).await.uid);
    }
    let now = Utc::now();
    for uid in &uids {
        // One at a time: archive ids follow deletion order.
        s.expunge_archiving(inbox, &UidSet::from_uids([*uid]), false, now, now)
            .await
            .expect("archive");
    }
    let subjects = |p: &Page<crate::ArchivedMessage>| -> Vec<String> {
        p.results
            .iter()
            .map(|e| e.message.index.subject.clone())
            .collect()
    };
    let first = s
        .list_archived(user, &paging(2, SortOrder::Descending))
        .await
        .expect("page 1");
    assert_eq!(first.total, 5);
    assert_eq!(subjects(&first), ["Message 4", "Message 3"]);
    assert!(first.previous.is_none());
    let next = |c: &Option<String>| c.as_ref().and_then(|c| c.parse::<u64>().ok());
    let second = s
        .list_archived(
            user,
            &ArchivePaging {
                next: next(&first.next),
                ..paging(2, SortOrder::Descending)
            },
        )
        .await
        .expect("page 2");
    assert_eq!(subjects(&second), ["Message 2", "Message 1"]);
    let back = s
        .list_archived(
            user,
            &ArchivePaging {
                previous: next(&second.previous),
                ..paging(2, SortOrder::Descending)
            },
        )
        .await
        .expect("back to page 1");
    assert_eq!(subjects(&back), ["Message 4", "Message 3"]);
    let third = s
        .list_archived(
            user,
            &ArchivePaging {
                next: next(&second.next),
                ..paging(2, SortOrder::Descending)
            },
        )
        .await
        .expect("page 3");
    assert_eq!(subjects(&third), ["Message 0"]);
    assert!(third.next.is_none());
    let asc = s
        .list_archived(user, &paging(3, SortOrder::Ascending))
        .await
        .expect("ascending");
    assert_eq!(subjects(&asc), ["Message 0", "Message 1", "Message 2"]);
    // Deleting the user takes its archive along.
    assert!(s.delete_user(user).await.expect("delete"));
    assert_eq!(
        s.list_archived(user, &paging(10, SortOrder::Ascending))
            .await
            .expect("list")
            .total,
        0
    );
}

/// A deleted user is invisible and frees its username and addresses; a restore brings
/// it back with the addresses still free; the purge removes it for good.
pub async fn deleted_users<S: Store>(s: &S) {
    let a = account(s, "deluser").await;
    let id = a.user.id;
    let extra = address_record(Some(id), &format!("{}@extra.example", unique("x")), false);
    s.create_address(&extra).await.expect("extra address");
    append(s, id, a.inbox.id, &simple(1), &[]).await;
    let now = Utc::now();
    let after = now + chrono::Duration::days(3);
    let d = s
        .mark_user_deleted(id, now, after)
        .await
        .expect("mark deleted")
        .expect("live user");
    assert_eq!(d.addresses.len(), 2);
    assert!(s
        .mark_user_deleted(id, now, after)
        .await
        .expect("again")
        .is_none());
    assert!(
        s.get_user(id).await.expect("get").is_none(),
        "hidden from get"
    );
    assert!(s
        .find_user_by_unameview(&a.user.unameview)
        .await
        .expect("find")
        .is_none());
    assert!(s
        .find_address(&a.address.addrview)
        .await
        .expect("addr")
        .is_none());
    let listed = s
        .list_users(&UserQuery {
            query: Some(a.user.username.clone()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(listed.results.iter().all(|u| u.id != id));
    let rec = s
        .get_deleted_user(id)
        .await
        .expect("get deleted")
        .expect("record");
    assert_eq!(rec.user.username, a.user.username);
    assert_eq!(rec.user.unameview, a.user.unameview);
    assert_eq!(
        rec.delete_after.timestamp_millis(),
        after.timestamp_millis()
    );
    assert_eq!(rec.addresses.len(), 2);
    assert_eq!(
        s.deleted_users_due(now, 0).await.expect("due"),
        Vec::<ObjectId>::new()
    );
    assert!(s
        .deleted_users_due(after, 0)
        .await
        .expect("due")
        .contains(&id));

    // Someone takes the extra address meanwhile: the restore reports it lost.
    let thief = user_record(&unique("thief"));
    let taken = address_record(Some(thief.id), &extra.address, true);
    s.create_user(&thief, Some(&taken), &[])
        .await
        .expect("thief");
    let r = s
        .restore_deleted_user(id)
        .await
        .expect("restore")
        .expect("deleted user");
    assert_eq!(r.recovered.len(), 1);
    assert_eq!(r.lost.len(), 1);
    assert_eq!(r.lost[0].addrview, extra.addrview);
    let back = s.get_user(id).await.expect("get").expect("visible again");
    assert_eq!(back.address, a.address.address, "main address restored");
    assert_eq!(back.storage_used, storage(s, id).await);
    assert!(back.storage_used > 0, "its messages stayed");
    let main = s
        .find_address(&a.address.addrview)
        .await
        .expect("find")
        .expect("recovered");
    assert_eq!(main.user, Some(id));
    assert!(main.main);
    assert!(s.get_deleted_user(id).await.expect("get").is_none());
    assert!(s.restore_deleted_user(id).await.expect("restore").is_none());

    // Deleted again, its username taken by a new account: no restore.
    s.mark_user_deleted(id, now, after)
        .await
        .expect("mark")
        .expect("live");
    let mut twin = user_record(&unique("twin"));
    twin.username = a.user.username.clone();
    twin.unameview = a.user.unameview.clone();
    s.create_user(&twin, None, &[]).await.expect("name is free");
    assert!(is_conflict(s.restore_deleted_user(id).await, "username"));
    // The purge removes the account, its record and messages.
    assert!(s.delete_user(id).await.expect("purge"));
    assert!(s.get_deleted_user(id).await.expect("get").is_none());
    assert!(!s
        .deleted_users_due(after, 0)
        .await
        .expect("due")
        .contains(&id));
    assert!(s
        .list_uids(a.inbox.id)
        .await
        .map(|u| u.is_empty())
        .unwrap_or(true));
}
