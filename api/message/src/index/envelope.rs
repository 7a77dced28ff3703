//! The RFC 3501 ENVELOPE of a message header, structured.
//!
//! Values are raw (undecoded) and unfolded. Subject and names are normalized
//! "for humans" (whitespace collapsed) as Dovecot does; Sender and Reply-To fall
//! back to From when absent or empty (RFC 3501 7.4.2). The first occurrence of a
//! field counts.

use super::address::{envelope_addresses, humanize, parse_list};
use super::fields::{first, lossy, unfold, RawField};
use crate::index::Envelope;

pub(crate) fn envelope(fields: &[RawField<'_>]) -> Envelope {
    let raw = |name: &str| first(fields, name).map(|f| lossy(&unfold(f.value)));
    let addrs = |name: &str| {
        first(fields, name)
            .map(|f| envelope_addresses(&parse_list(f.value)))
            .unwrap_or_default()
    };
    let from = addrs("From");
    let mut sender = addrs("Sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addrs("Reply-To");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    Envelope {
        date: raw("Date"),
        subject: first(fields, "Subject").map(|f| humanize(f.value)),
        from,
        sender,
        reply_to,
        to: addrs("To"),
        cc: addrs("Cc"),
        bcc: addrs("Bcc"),
        in_reply_to: raw("In-Reply-To"),
        message_id: raw("Message-ID"),
    }
}
