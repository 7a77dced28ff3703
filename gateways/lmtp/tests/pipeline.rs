//! The service layer's delivery pipeline on a real embedded store: filters and
//! autoreply settings stored through the service (as the API stores them) and
//! a capturing outbound adapter (HTTP posts); mail to send is read from the
//! outbound queue, where the service puts it.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use eider_service::model::UidSet;
use eider_service::{
    AutoreplyUpdate, Deliverer, DeliveryConfig, DeliveryOutcome, FilterAction, FilterQuery,
    InProcessBus, MailEnvelope, NewFilter, NewUser, ObjectId, Outbound, RecipientCheck, Result,
    Service, ServiceConfig, SmtpJob, SMTP_QUEUE,
};

#[derive(Default)]
struct Capture {
    posted: Mutex<Vec<(String, serde_json::Value)>>,
}

#[async_trait]
impl Outbound for Capture {
    async fn post(&self, url: &str, payload: serde_json::Value) -> Result<()> {
        if let Ok(mut p) = self.posted.lock() {
            p.push((url.to_string(), payload));
        }
        Ok(())
    }
}

struct World {
    _dir: tempfile::TempDir,
    service: Service,
    deliverer: Deliverer,
    outbound: Arc<Capture>,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        eider_store_sqlite::SqliteStore::open(dir.path(), Default::default()).expect("open store");
    let service = Service::new(
        Arc::new(store),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let outbound = Arc::new(Capture::default());
    let service = service.with_outbound(outbound.clone());
    let deliverer =
        Deliverer::new(service.clone(), DeliveryConfig::default()).with_outbound(outbound.clone());
    World {
        _dir: dir,
        service,
        deliverer,
        outbound,
    }
}

impl World {
    /// What the service queued for sending, oldest first.
    async fn queued(&self) -> Vec<SmtpJob> {
        self.service
            .list_queued(SMTP_QUEUE, None, 1000)
            .await
            .expect("queue")
            .iter()
            .map(|e| SmtpJob::decode(&e.payload).expect("payload"))
            .collect()
    }

    async fn user(&self, name: &str) -> ObjectId {
        self.service
            .create_user(NewUser {
                username: name.into(),
                address: Some(format!("{name}@example.com")),
                ..Default::default()
            })
            .await
            .expect("user")
            .id
    }

    async fn deliver(&self, sender: Option<&str>, rcpt: &str, raw: &str) -> DeliveryOutcome {
        let recipient = match self.deliverer.check_recipient(rcpt).await.expect("check") {
            RecipientCheck::Accepted(r) => *r,
            other => panic!("recipient refused: {other:?}"),
        };
        let envelope = MailEnvelope {
            sender: sender.map(str::to_string),
            origin: None,
        };
        let mut outcomes = self
            .deliverer
            .deliver(&envelope, raw.as_bytes().to_vec(), &[recipient])
            .await
            .expect("deliver");
        outcomes.pop().expect("one outcome")
    }

    /// (path, flags) of every stored message of a user, by mailbox path.
    async fn stored(&self, user: ObjectId) -> Vec<(String, String, Vec<String>)> {
        let mut out = Vec::new();
        for m in self.service.list_mailboxes(user).await.expect("mailboxes") {
            let metas = self
                .service
                .list_messages(user, m.id, &UidSet::all(), Default::default(), 0)
                .await
                .expect("messages");
            for meta in metas {
                out.push((m.path.clone(), meta.subject.clone(), meta.flags.clone()));
            }
        }
        out.sort();
        out
    }
}

fn message(from: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: someone@example.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.org>\r\n{extra}\r\nBody text here.\r\n",
        ObjectId::new()
    )
}

fn filter(query: FilterQuery, action: FilterAction) -> NewFilter {
    NewFilter {
        query,
        action,
        ..Default::default()
    }
}

#[tokio::test]
async fn filters_move_flag_drop_and_overrule_the_spam_test() {
    let w = world();
    let u = w.user("filtered").await;
    let lists = w
        .service
        .create_mailbox(u, "Lists", None, false, None)
        .await
        .expect("mailbox");
    let filters = vec![
        filter(
            FilterQuery {
                list_id: Some("dev.lists.example".into()),
                ..Default::default()
            },
            FilterAction {
                mailbox: Some(lists.id),
                seen: Some(true),
                ..Default::default()
            },
        ),
        filter(
            FilterQuery {
                from: Some("boss@".into()),
                ..Default::default()
            },
            FilterAction {
                flag: Some(true),
                targets: vec!["https://hooks.example/boss".into()],
                ..Default::default()
            },
        ),
        filter(
            FilterQuery {
                subject: Some("lottery".into()),
                ..Default::default()
            },
            FilterAction {
                delete: Some(true),
                ..Default::default()
            },
        ),
        filter(
            FilterQuery {
                from: Some("friend@".into()),
                ..Default::default()
            },
            FilterAction {
                spam: Some(false),
                ..Default::default()
            },
        ),
    ];
    for f in filters {
        w.service.create_filter(u, f).await.expect("filter");
    }

    let rcpt = "filtered@example.com";
    let list = message(
        "a@x.example",
        "list mail",
        "List-ID: Dev <dev.lists.example>\r\n",
    );
    assert!(matches!(
        w.deliver(Some("a@x.example"), rcpt, &list).await,
        DeliveryOutcome::Stored { ref path, .. } if path == "Lists"
    ));
    w.deliver(
        Some("boss@x.example"),
        rcpt,
        &message("boss@x.example", "from boss", ""),
    )
    .await;
    assert!(matches!(
        w.deliver(
            Some("s@x.example"),
            rcpt,
            &message("s@x.example", "lottery win", "")
        )
        .await,
        DeliveryOutcome::Dropped
    ));
    let friendly_spam = message("friend@x.example", "friendly", "X-Spam-Flag: YES\r\n");
    w.deliver(Some("friend@x.example"), rcpt, &friendly_spam)
        .await;
    let plain_spam = message("other@x.example", "spammy", "X-Spam-Flag: YES\r\n");
    assert!(matches!(
        w.deliver(Some("other@x.example"), rcpt, &plain_spam).await,
        DeliveryOutcome::Stored { junk: true, .. }
    ));

    let stored = w.stored(u).await;
    assert_eq!(
        stored,
        vec![
            ("INBOX".into(), "friendly".into(), vec![]),
            (
                "INBOX".into(),
                "from boss".into(),
                vec!["\\Flagged".to_string()]
            ),
            ("Junk".into(), "spammy".into(), vec![]),
            (
                "Lists".into(),
                "list mail".into(),
                vec!["\\Seen".to_string()]
            ),
        ]
    );
    let posted = w.outbound.posted.lock().expect("lock").clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].0, "https://hooks.example/boss");
    assert_eq!(posted[0].1["subject"], "from boss");
}

#[tokio::test]
async fn autoreply_follows_rfc3834_and_answers_once_per_sender() {
    let w = world();
    let u = w.user("away").await;
    w.service
        .update_autoreply(
            u,
            AutoreplyUpdate {
                status: Some(true),
                name: Some("Away Person".into()),
                subject: Some("Out of office".into()),
                text: Some("Back on Monday.".into()),
                ..Default::default()
            },
        )
        .await
        .expect("autoreply");
    let rcpt = "away@example.com";
    w.deliver(
        Some("alice@example.org"),
        rcpt,
        &message("alice@example.org", "hi", ""),
    )
    .await;
    w.deliver(
        Some("alice@example.org"),
        rcpt,
        &message("alice@example.org", "again", ""),
    )
    .await;
    w.deliver(
        Some("list@example.org"),
        rcpt,
        &message("list@example.org", "news", "Precedence: bulk\r\n"),
    )
    .await;
    w.deliver(
        Some("bot@example.org"),
        rcpt,
        &message(
            "bot@example.org",
            "auto",
            "Auto-Submitted: auto-generated\r\n",
        ),
    )
    .await;
    w.deliver(
        None,
        rcpt,
        &message("mailer-daemon@example.org", "bounce", ""),
    )
    .await;
    w.deliver(
        Some("spammer@example.org"),
        rcpt,
        &message("spammer@example.org", "spam", "X-Spam-Flag: yes\r\n"),
    )
    .await;

    let sent = w.queued().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let reply = &sent[0];
    assert_eq!(reply.from, None);
    assert_eq!(reply.to, vec!["alice@example.org".to_string()]);
    let text = String::from_utf8_lossy(&reply.raw);
    assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
    assert!(text.contains("Subject: Out of office\r\n"), "{text}");
    assert!(
        text.contains("From: Away Person <away@example.com>\r\n"),
        "{text}"
    );
    assert!(text.contains("In-Reply-To: <"), "{text}");
    // Every message was still stored.
    assert_eq!(w.stored(u).await.len(), 6);
}

#[tokio::test]
async fn user_forward_limit_is_per_day() {
    let w = world();
    let u = w.user("fwd").await;
    let mut user = w.service.get_user(u).await.expect("user");
    user.profile.targets = vec!["copy@example.net".into()];
    user.profile.limits.forwards = Some(2);
    w.service
        .update_user(
            u,
            eider_service::UserUpdate {
                profile: Some(user.profile.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    for i in 0..4 {
        let outcome = w
            .deliver(
                Some("s@example.org"),
                "fwd@example.com",
                &message("s@example.org", &format!("m{i}"), ""),
            )
            .await;
        assert!(matches!(outcome, DeliveryOutcome::Stored { .. }));
    }
    let sent = w.queued().await;
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|m| m.to == vec!["copy@example.net".to_string()]
            && m.from.as_deref() == Some("s@example.org")));
    assert_eq!(w.stored(u).await.len(), 4);
}
