//! Rules for what IMAP needs of a store beyond messages: the Date: header's own day
//! for SENTBEFORE/SENTON/SENTSINCE, and subscriptions as names that outlive their
//! mailboxes. Run by `conformance::run_all`, or one rule at a time.

use chrono::NaiveDate;

use super::{account, append, mailbox_record, request, text_message, unique};
use crate::model::*;
use crate::Store;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// SENT* keys compare the Date: header's day as written in its own zone, whatever
/// the zone does to the instant; the day survives COPY and MOVE; without a Date:
/// header the internal date's UTC day stands in.
pub async fn sent_day_search<S: Store>(s: &S) {
    let a = account(s, "sentday").await;
    let (uid, inbox, archive) = (a.user.id, a.inbox.id, a.archive.id);
    let dated =
        |n: u32, date: &str| text_message(&format!("Sent {n}"), "body", &unique("sd."), date, "");
    // 1: late on 1 Jan in New York (2 Jan in UTC); 2: early on 2 Jan in Tokyo (1 Jan in
    // UTC); 3: 2 Jan in UTC; 4: no Date: header, delivered on 3 Jan (UTC).
    for raw in [
        dated(1, "Mon, 1 Jan 2024 23:30:00 -0500"),
        dated(2, "Tue, 2 Jan 2024 00:30:00 +0900"),
        dated(3, "Tue, 2 Jan 2024 12:00:00 +0000"),
    ] {
        append(s, uid, inbox, &raw, &[]).await;
    }
    let mut undated = request(
        uid,
        inbox,
        b"From: a@example.com\r\nSubject: undated\r\n\r\nbody\r\n",
        &[],
    );
    undated.internal_date = date(2024, 1, 3)
        .and_hms_opt(23, 0, 0)
        .expect("time")
        .and_utc();
    s.append(undated).await.expect("append");

    let find = |mailbox, key: SearchKey| {
        let q = SearchQuery {
            user: uid,
            mailbox: Some(mailbox),
            key,
        };
        async move {
            s.search(&q)
                .await
                .expect("search")
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<u32>>()
        }
    };
    use SearchKey as K;
    let on = |d: NaiveDate| {
        K::And(vec![
            K::SentSince(d),
            K::SentBefore(d.succ_opt().expect("next day")),
        ])
    };
    assert_eq!(find(inbox, on(date(2024, 1, 1))).await, vec![1], "on 1 Jan");
    assert_eq!(
        find(inbox, on(date(2024, 1, 2))).await,
        vec![2, 3],
        "on 2 Jan"
    );
    assert_eq!(find(inbox, on(date(2024, 1, 3))).await, vec![4], "undated");
    assert_eq!(find(inbox, K::SentBefore(date(2024, 1, 2))).await, vec![1]);
    assert_eq!(
        find(inbox, K::SentSince(date(2024, 1, 2))).await,
        vec![2, 3, 4]
    );
    assert_eq!(
        find(inbox, K::Not(Box::new(K::SentSince(date(2024, 1, 2))))).await,
        vec![1]
    );
    // With a text key the store may confirm candidates itself: same answer.
    assert_eq!(
        find(
            inbox,
            K::And(vec![K::Text("Sent".into()), on(date(2024, 1, 2))])
        )
        .await,
        vec![2, 3]
    );
    assert_eq!(
        find(
            inbox,
            K::Or(
                Box::new(K::Text("nowhere to be found".into())),
                Box::new(K::SentBefore(date(2024, 1, 2)))
            )
        )
        .await,
        vec![1]
    );
    // The instant comparison is unchanged: message 1 is 2 Jan in UTC.
    let jan2 = date(2024, 1, 2).and_hms_opt(0, 0, 0).expect("t").and_utc();
    assert_eq!(
        find(inbox, K::Since(DateField::Header, jan2)).await,
        vec![1, 3, 4]
    );
    // Copies and moves keep the day.
    s.copy_messages(uid, inbox, &UidSet::from_uids([1]), archive, None)
        .await
        .expect("copy");
    s.move_messages(uid, inbox, &UidSet::from_uids([2]), archive)
        .await
        .expect("move");
    assert_eq!(find(archive, on(date(2024, 1, 1))).await, vec![1]);
    assert_eq!(find(archive, on(date(2024, 1, 2))).await, vec![2]);
    s.delete_user(uid).await.expect("cleanup");
}

/// Subscriptions: a set of names per user. A mailbox's `subscribed` is whether its
/// path is in the set (both ways); deleting a mailbox keeps its name subscribed;
/// renaming moves it; creating an unsubscribed mailbox keeps an earlier subscription.
pub async fn subscriptions<S: Store>(s: &S) {
    let a = account(s, "subs").await;
    let uid = a.user.id;
    let subs = || async move { s.list_subscriptions(uid).await.expect("list") };
    // create_user subscribed its (subscribed) mailboxes.
    assert_eq!(
        subs().await,
        vec!["Archive".to_string(), "INBOX".to_string()]
    );

    let mut work = mailbox_record(uid, "Work", None);
    work.subscribed = false;
    s.create_mailbox(&work).await.expect("create");
    assert!(
        !s.get_mailbox(uid, work.id)
            .await
            .expect("get")
            .expect("exists")
            .subscribed
    );
    // By name: the mailbox follows.
    assert!(s.set_subscription(uid, "Work", true).await.expect("sub"));
    assert!(!s.set_subscription(uid, "Work", true).await.expect("again"));
    let got = s.find_mailbox(uid, "Work").await.expect("find").expect("x");
    assert!(got.subscribed);
    assert!(s
        .list_mailboxes(uid)
        .await
        .expect("list")
        .iter()
        .any(|m| m.path == "Work" && m.subscribed));
    // By mailbox: the names follow.
    let mut m = got.clone();
    m.subscribed = false;
    s.update_mailbox(&m).await.expect("update");
    assert!(!subs().await.contains(&"Work".to_string()));
    m.subscribed = true;
    s.update_mailbox(&m).await.expect("update");
    assert!(subs().await.contains(&"Work".to_string()));

    // A rename moves the subscriptions of the renamed mailboxes.
    let child = mailbox_record(uid, "Work/2024", None);
    s.create_mailbox(&child).await.expect("create child");
    s.rename_mailboxes(
        uid,
        &[(work.id, "Jobs".into()), (child.id, "Jobs/2024".into())],
    )
    .await
    .expect("rename");
    let names = subs().await;
    assert!(names.contains(&"Jobs".to_string()) && names.contains(&"Jobs/2024".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("Work")), "{names:?}");
    assert!(
        s.get_mailbox(uid, work.id)
            .await
            .expect("get")
            .expect("x")
            .subscribed
    );

    // Deleting keeps the name subscribed; a new mailbox by that name, created
    // unsubscribed, is subscribed through it.
    assert!(s.delete_mailbox(uid, child.id).await.expect("delete"));
    assert!(subs().await.contains(&"Jobs/2024".to_string()));
    let mut again = mailbox_record(uid, "Jobs/2024", None);
    again.subscribed = false;
    s.create_mailbox(&again).await.expect("recreate");
    assert!(
        s.get_mailbox(uid, again.id)
            .await
            .expect("get")
            .expect("x")
            .subscribed
    );
    assert!(s.delete_mailbox(uid, again.id).await.expect("delete"));
    // A name without a mailbox can be unsubscribed (and subscribed).
    assert!(s
        .set_subscription(uid, "Jobs/2024", false)
        .await
        .expect("unsub"));
    assert!(!s
        .set_subscription(uid, "Jobs/2024", false)
        .await
        .expect("unsub again"));
    assert!(s.set_subscription(uid, "Gone", true).await.expect("sub"));
    assert_eq!(
        subs().await,
        vec![
            "Archive".to_string(),
            "Gone".to_string(),
            "INBOX".to_string(),
            "Jobs".to_string()
        ]
    );
    // Another user's list is its own; a missing user has none to change.
    let b = account(s, "subs.other").await;
    assert_eq!(
        s.list_subscriptions(b.user.id).await.expect("list").len(),
        2
    );
    assert!(s
        .set_subscription(crate::ObjectId::new(), "INBOX", true)
        .await
        .is_err());
    // Deleting the user removes its subscriptions.
    s.delete_user(uid).await.expect("cleanup");
    assert!(s.list_subscriptions(uid).await.expect("list").is_empty());
    s.delete_user(b.user.id).await.expect("cleanup");
}

/// SORT/THREAD rows: one per message in UID order with the keys computed at append
/// (base subject, first From/To/Cc mailbox, display names, sent date, parent ids);
/// copies and moves carry them; `set_sort_keys` replaces them; a UID set limits the
/// rows; rows of other mailboxes never appear.
pub async fn sort_rows<S: Store>(s: &S) {
    let a = account(s, "sortrows").await;
    let (uid, inbox, archive) = (a.user.id, a.inbox.id, a.archive.id);
    let first = text_message(
        "Re: [list] Fwd: Plans (fwd)",
        "body",
        &unique("sr."),
        "Mon, 1 Jan 2024 23:30:00 -0500",
        "Cc: \"Carol C\" <carol@example.net>\r\nReferences: <a@x> <b@x>\r\n",
    );
    let second = b"From: zed@example.com\r\nSubject: plain\r\nIn-Reply-To: <p@x>\r\n\r\nx\r\n";
    append(s, uid, inbox, &first, &[]).await;
    append(s, uid, inbox, second, &[]).await;
    let rows = s.sort_rows(inbox, &UidSet::all()).await.expect("sort rows");
    assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), vec![1, 2]);
    let k = rows[0].keys.clone().expect("keys stored at append");
    assert_eq!(k.subject, "PLANS");
    assert!(k.reply, "a reply marker was removed");
    assert_eq!(
        (k.from.as_str(), k.to.as_str(), k.cc.as_str()),
        ("ALICE", "BOB", "CAROL")
    );
    assert_eq!(
        (k.display_from.as_str(), k.display_to.as_str()),
        ("ALICE", "BOB")
    );
    // 2 Jan 2024 04:30 UTC.
    assert_eq!(k.date, Some(1_704_169_800));
    assert_eq!(k.refs, vec!["a@x".to_string(), "b@x".to_string()]);
    assert!(rows[0].message_id.is_some());
    assert!(rows[0].size > 0);
    let k2 = rows[1].keys.clone().expect("keys");
    assert_eq!(
        (k2.subject.as_str(), k2.to.as_str(), k2.cc.as_str()),
        ("PLAIN", "", "")
    );
    assert_eq!(k2.date, None);
    assert!(!k2.reply);
    assert_eq!(
        k2.refs,
        vec!["p@x".to_string()],
        "In-Reply-To without References"
    );
    assert_eq!(rows[1].message_id, None);

    // A UID set limits the rows.
    let one = s
        .sort_rows(inbox, &UidSet::from_uids([2]))
        .await
        .expect("rows");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].uid, 2);

    // Copies and moves keep the keys.
    s.copy_messages(uid, inbox, &UidSet::from_uids([1]), archive, None)
        .await
        .expect("copy");
    s.move_messages(uid, inbox, &UidSet::from_uids([2]), archive)
        .await
        .expect("move");
    let copied = s.sort_rows(archive, &UidSet::all()).await.expect("rows");
    assert_eq!(copied.len(), 2);
    assert_eq!(copied[0].keys.as_ref(), Some(&k));
    assert_eq!(copied[1].keys.as_ref(), Some(&k2));
    let left = s.sort_rows(inbox, &UidSet::all()).await.expect("rows");
    assert_eq!(left.iter().map(|r| r.uid).collect::<Vec<_>>(), vec![1]);

    // Replaced keys are read back; a vanished UID is skipped without error.
    let mut changed = k.clone();
    changed.subject = "OTHER".into();
    s.set_sort_keys(inbox, &[(1, changed.clone()), (99, changed.clone())])
        .await
        .expect("set keys");
    let back = s.sort_rows(inbox, &UidSet::all()).await.expect("rows");
    assert_eq!(back[0].keys.as_ref(), Some(&changed));
    let other = s
        .sort_rows(archive, &UidSet::from_uids([1]))
        .await
        .expect("rows");
    assert_eq!(other[0].keys.as_ref(), Some(&k), "other mailbox untouched");
}
