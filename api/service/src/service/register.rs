//! The address register: who a user corresponds with. Recorded from the To, Cc
//! and Bcc of messages the user sends or stores in \Sent, and from the From of
//! mail delivered to the user (as WildDuck does); read by prefix for completion.

use chrono::Utc;
use eider_message::MessageIndex;
use tracing::warn;

use super::Service;
use crate::normalize::parse_address;
use crate::{Error, ObjectId, RegisteredAddress, Result, SeenAddress};

/// Most entries one GET /addressregister answers.
pub const MAX_REGISTER_LIMIT: u32 = 250;
/// Longest query accepted, in characters.
pub const MAX_REGISTER_QUERY: usize = 255;
/// Most recipients of one message recorded: a mass mailing should not cost one
/// upsert per recipient on the sending path.
const MAX_RECORDED: usize = 100;

/// The To, Cc and Bcc addresses of a message, de-duplicated by normalized
/// address (the first non-empty name wins). Unparseable addresses and group
/// markers are skipped.
pub(crate) fn seen_addresses(index: &MessageIndex) -> Vec<SeenAddress> {
    seen_in(index.to.iter().chain(&index.cc).chain(&index.bcc))
}

/// The From addresses of a received message, de-duplicated as above.
pub(crate) fn seen_senders(index: &MessageIndex) -> Vec<SeenAddress> {
    seen_in(index.from.iter())
}

fn seen_in<'a>(list: impl Iterator<Item = &'a eider_message::Address>) -> Vec<SeenAddress> {
    let mut out: Vec<SeenAddress> = Vec::new();
    for a in list {
        let Ok(parsed) = parse_address(&a.address) else {
            continue;
        };
        if parsed.is_wildcard() {
            continue;
        }
        // Dots and +labels matter to other domains: only case and IDN spelling
        // are folded.
        let addrview = format!("{}@{}", parsed.local.to_lowercase(), parsed.domain);
        let name = a.name.trim().to_string();
        if let Some(known) = out.iter_mut().find(|s| s.addrview == addrview) {
            if known.name.is_empty() {
                known.name = name;
            }
            continue;
        }
        if out.len() >= MAX_RECORDED {
            break;
        }
        out.push(SeenAddress {
            addrview,
            address: parsed.display(),
            name,
        });
    }
    out
}

impl Service {
    /// Record the recipients of a message the user sent. Best effort: the register
    /// helps completion only, so a failure is logged and the send or store stands.
    pub(crate) async fn record_recipients(&self, user: ObjectId, index: &MessageIndex) {
        self.record_seen(user, seen_addresses(index)).await;
    }

    /// Record addresses already taken from a message (see [`seen_addresses`]).
    pub(crate) async fn record_seen(&self, user: ObjectId, seen: Vec<SeenAddress>) {
        if seen.is_empty() {
            return;
        }
        if let Err(e) = self.store().record_addresses(user, &seen, Utc::now()).await {
            warn!(user = %user, "cannot update the address register: {e}");
        }
    }

    /// Register entries whose address, name or a word of the name starts with
    /// `query` (any case), most recently used first, at most `limit` (1..=250).
    pub async fn address_register(
        &self,
        user: ObjectId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<RegisteredAddress>> {
        let prefix: String = query
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .flat_map(char::to_lowercase)
            .collect();
        if prefix.is_empty() {
            return Err(Error::Validation("\"query\" is required".into()));
        }
        if prefix.chars().count() > MAX_REGISTER_QUERY {
            return Err(Error::Validation(format!(
                "\"query\" must be at most {MAX_REGISTER_QUERY} characters"
            )));
        }
        if !(1..=MAX_REGISTER_LIMIT).contains(&limit) {
            return Err(Error::Validation(format!(
                "\"limit\" must be between 1 and {MAX_REGISTER_LIMIT}"
            )));
        }
        self.get_user(user).await?;
        Ok(self
            .store()
            .search_address_register(user, &prefix, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eider_message::{ingest, IngestOptions};

    #[test]
    fn recipients_are_folded_and_deduplicated() {
        let raw = b"From: me@example.com\r\n\
            To: \"Ann Smith\" <Ann.Smith@Example.COM>, bob@xn--bcher-kva.example\r\n\
            Cc: ann.smith@example.com, Undisclosed:;\r\n\
            Bcc: Carol <carol+x@example.org>\r\n\
            Subject: hi\r\n\r\nbody\r\n";
        let index = ingest(raw, &IngestOptions::default())
            .expect("ingest")
            .index;
        let seen = seen_addresses(&index);
        let views: Vec<_> = seen.iter().map(|s| s.addrview.as_str()).collect();
        assert_eq!(
            views,
            vec![
                "ann.smith@example.com",
                "bob@bücher.example",
                "carol+x@example.org"
            ]
        );
        assert_eq!(seen[0].name, "Ann Smith");
        assert_eq!(seen[0].address, "Ann.Smith@example.com");
        assert_eq!(seen[1].name, "");
        assert_eq!(seen[2].name, "Carol");
    }
}
