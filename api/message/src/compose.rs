//! Messages the server writes itself: delivery status notifications (RFC 3464)
//! for mail the outbound queue could not deliver.

use chrono::{DateTime, Utc};

/// One recipient a DSN reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub address: String,
    /// RFC 3463 status ("5.1.1"; "4.4.7" for an expired message).
    pub status: String,
    /// What the remote server said (or why it could not be reached).
    pub diagnostic: String,
    /// The host that answered, when one did.
    pub remote_mta: Option<String>,
}

/// What a DSN says and about which message.
#[derive(Debug, Clone)]
pub struct Dsn<'a> {
    /// The server's host name (Reporting-MTA and the From address's domain).
    pub reporting_mta: &'a str,
    /// Who receives the report: the original envelope sender.
    pub to: &'a str,
    /// The queue id of the original message (X-Eider-Queue-Id, for support).
    pub queue_id: &'a str,
    pub arrival: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub recipients: &'a [DsnRecipient],
    /// The original message; its header section is returned (text/rfc822-headers).
    pub original: &'a [u8],
    /// A unique token for the Message-ID and the MIME boundary.
    pub unique: &'a str,
}

/// Strip CR and LF so a value from the network cannot start a new header field.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// The header section of a message (up to and including the blank line, or all of
/// it when there is no body), at most 64 KiB so a huge header does not come back whole.
fn header_section(raw: &[u8]) -> &[u8] {
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| memchr::memmem::find(raw, b"\n\n").map(|i| i + 1))
        .unwrap_or(raw.len());
    &raw[..end.min(64 * 1024)]
}

/// A multipart/report DSN: a human-readable part, the message/delivery-status part
/// with one block per recipient, and the original message's header section.
pub fn compose_dsn(dsn: &Dsn<'_>) -> Vec<u8> {
    let host = one_line(dsn.reporting_mta);
    let boundary = format!("----=_eider_dsn_{}", one_line(dsn.unique));
    let date = dsn.now.to_rfc2822();
    let delayed = dsn.recipients.iter().all(|r| r.status.starts_with('4'));
    let mut out = String::new();
    out.push_str(&format!(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@{host}>\r\n\
         To: <{}>\r\n\
         Subject: Delivery Status Notification (Failure)\r\n\
         Date: {date}\r\n\
         Message-ID: <{}.dsn@{host}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         X-Eider-Queue-Id: {}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated delivery status notification.\r\n\
         \r\n--{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        one_line(dsn.to),
        one_line(dsn.unique),
        one_line(dsn.queue_id),
    ));
    out.push_str(if delayed {
        "Your message could not be delivered in time to these recipients and was given up:\r\n\r\n"
    } else {
        "Your message could not be delivered to these recipients:\r\n\r\n"
    });
    for r in dsn.recipients {
        out.push_str(&format!(
            "  {}\r\n    {}\r\n",
            one_line(&r.address),
            one_line(&r.diagnostic)
        ));
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {host}\r\n\
         X-Eider-Queue-Id: {}\r\n\
         Arrival-Date: {}\r\n",
        one_line(dsn.queue_id),
        dsn.arrival.to_rfc2822()
    ));
    for r in dsn.recipients {
        out.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n",
            one_line(&r.address),
            one_line(&r.status)
        ));
        if let Some(remote) = &r.remote_mta {
            out.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(remote)));
        }
        out.push_str(&format!(
            "Diagnostic-Code: smtp; {}\r\nLast-Attempt-Date: {date}\r\n",
            one_line(&r.diagnostic)
        ));
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(header_section(dsn.original));
    if !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_reports_each_recipient_and_returns_the_header() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let recipients = [DsnRecipient {
            address: "bob@example.net".into(),
            status: "5.1.1".into(),
            diagnostic: "550 5.1.1 no such user\r\nInjected: yes".into(),
            remote_mta: Some("mx.example.net".into()),
        }];
        let raw = compose_dsn(&Dsn {
            reporting_mta: "mail.example.com",
            to: "alice@example.com",
            queue_id: "q1",
            arrival: now,
            now,
            recipients: &recipients,
            original: b"Subject: hello\r\nMessage-ID: <m1@x>\r\n\r\nsecret body\r\n",
            unique: "u1",
        });
        let text = String::from_utf8(raw).expect("utf8");
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains(
            "Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ));
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user  Injected: yes\r\n"));
        assert!(text.contains("Message-ID: <m1@x>"));
        assert!(!text.contains("secret body"), "the body is not returned");
        assert!(!text.contains("\r\nInjected:"), "no header injection");
        let parsed = mail_parser::MessageParser::default()
            .parse(text.as_bytes())
            .expect("parses");
        assert_eq!(
            parsed.subject(),
            Some("Delivery Status Notification (Failure)")
        );
        assert_eq!(parsed.parts.len(), 4, "report with three parts");
    }
}
