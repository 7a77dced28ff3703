//! GET /users/{user}/updates: a Server-Sent Events change stream fed by the
//! journal. Bus beacons only say "look again"; every event comes from the
//! journal, so a resumed stream (`Last-Event-ID`) misses nothing.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use eider_service::model::{Beacon, JournalEntry, JournalKind};
use eider_service::{ObjectId, Service};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{ApiQuery, Caller};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(updates))
}

/// Journal entries read per query.
const BATCH: u32 = 200;
/// Comment lines keep idle connections (and proxies) alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Query of GET /users/{user}/updates.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct UpdatesQuery {
    /// Last event ID header as query param: resume after this event
    #[serde(rename = "Last-Event-ID", deserialize_with = "de::opt_string")]
    pub last_event_id: Option<String>,
}

/// The JSON of one event, in WildDuck's shape (`command` plus what changed).
fn entry_json(e: &JournalEntry) -> serde_json::Value {
    let command = match e.kind {
        JournalKind::Exists => "EXISTS",
        JournalKind::Expunge => "EXPUNGE",
        JournalKind::Flags => "FETCH",
        JournalKind::MailboxCreate => "CREATE",
        JournalKind::MailboxRename => "RENAME",
        JournalKind::MailboxDelete => "DELETE",
    };
    let mut v = serde_json::json!({
        "command": command,
        "mailbox": e.mailbox.to_hex(),
    });
    if let Some(map) = v.as_object_mut() {
        if let Some(uid) = e.uid {
            map.insert("uid".into(), uid.into());
        }
        if let Some(m) = e.message {
            map.insert("message".into(), m.to_hex().into());
        }
        if matches!(e.kind, JournalKind::Exists | JournalKind::Flags) {
            map.insert("flags".into(), e.flags.clone().into());
            map.insert(
                "unseen".into(),
                (!e.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen"))).into(),
            );
        }
        if let Some(p) = &e.path {
            map.insert("path".into(), p.clone().into());
        }
        if e.modseq > 0 {
            map.insert("modseq".into(), e.modseq.into());
        }
    }
    v
}

fn event(id: u64, data: &serde_json::Value) -> Event {
    Event::default().id(id.to_string()).data(data.to_string())
}

struct Feed {
    service: Service,
    user: ObjectId,
    last: u64,
    beacons: broadcast::Receiver<Beacon>,
    stopping: watch::Receiver<bool>,
    pending: VecDeque<Event>,
    done: bool,
}

/// Resolves when the server stops; never when nobody can stop it.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Feed {
    /// Queue the journal entries past `last` and the counters of the mailboxes they touch.
    async fn load(&mut self) -> eider_service::Result<bool> {
        let entries = self
            .service
            .user_journal_after(self.user, self.last, BATCH)
            .await?;
        if entries.is_empty() {
            return Ok(false);
        }
        let mut touched = BTreeSet::new();
        for e in &entries {
            self.pending.push_back(event(e.id, &entry_json(e)));
            self.last = self.last.max(e.id);
            if matches!(
                e.kind,
                JournalKind::Exists | JournalKind::Expunge | JournalKind::Flags
            ) {
                touched.insert(e.mailbox);
            }
        }
        for mailbox in touched {
            // The mailbox may be gone by now; its deletion has its own event.
            if let Ok(c) = self.service.mailbox_counters(self.user, mailbox).await {
                let data = serde_json::json!({
                    "command": "COUNTERS",
                    "mailbox": mailbox.to_hex(),
                    "total": c.total,
                    "unseen": c.unseen,
                });
                self.pending.push_back(event(self.last, &data));
            }
        }
        Ok(true)
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some((Ok(e), self));
            }
            if self.done {
                return None;
            }
            match self.load().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "change stream failed");
                    self.done = true;
                    let ev = Event::default().event("error").data(e.to_string());
                    return Some((Ok(ev), self));
                }
            }
            tokio::select! {
                beacon = self.beacons.recv() => match beacon {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        self.beacons = self.service.bus().subscribe(self.user);
                    }
                },
                _ = stopped(&mut self.stopping) => return None,
            }
        }
    }
}

/// Open change stream (Server-Sent Events). Each event's data is a JSON object
/// with `command` (EXISTS, EXPUNGE, FETCH, CREATE, RENAME, DELETE, COUNTERS) and
/// the mailbox, message and uid it concerns; its id resumes the stream.
#[utoipa::path(get, path = "/users/{user}/updates", tag = "Users", operation_id = "getUpdates",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
        UpdatesQuery,
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn updates(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let user = caller.user(&user)?;
    state.service.get_user(user).await?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.last_event_id)
        .filter(|s| !s.trim().is_empty());
    let resume = match resume {
        Some(s) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "must be an event id"))?,
        ),
        None => None,
    };
    // Subscribe before reading the position so that nothing falls in between.
    let beacons = state.service.bus().subscribe(user);
    let last = match resume {
        Some(n) => n,
        None => state.service.last_journal_id().await?,
    };
    let feed = Feed {
        service: state.service.clone(),
        user,
        last,
        beacons,
        stopping: state.stopping.clone(),
        pending: VecDeque::new(),
        done: false,
    };
    let stream = futures::stream::unfold(feed, Feed::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("idling")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_look_like_wildduck() {
        let e = JournalEntry {
            id: 7,
            user: ObjectId::new(),
            mailbox: ObjectId::new(),
            modseq: 3,
            kind: JournalKind::Flags,
            uid: Some(5),
            message: Some(ObjectId::new()),
            flags: vec!["\\Seen".into()],
            path: None,
            created: chrono::Utc::now(),
        };
        let v = entry_json(&e);
        assert_eq!(v["command"], "FETCH");
        assert_eq!(v["uid"], 5);
        assert_eq!(v["unseen"], false);
        assert_eq!(v["flags"][0], "\\Seen");
    }
}
