//! NOTIFY (RFC 5465): `NOTIFY NONE` and `NOTIFY SET [STATUS] (filter events)...`.
//! Only the grammar lives here; which events the server supports, and the
//! rules between them, are the session's (it answers BADEVENT or BAD).

use super::command::fetch_att;
use super::lexer::{Cursor, PResult};
use super::types::{FetchAtt, NotifyCommand, NotifyEvent, NotifyFilter, NotifySpec};
use super::ParseError;

/// Most event groups and mailbox names in one NOTIFY SET (each costs a match per
/// journal entry; real clients name a handful).
const MAX_ITEMS: usize = 256;

fn err<T>(msg: &'static str) -> PResult<T> {
    Err(ParseError::new(msg))
}

pub(super) fn notify(c: &mut Cursor<'_>) -> PResult<NotifyCommand> {
    c.sp()?;
    match c.keyword()?.as_str() {
        "NONE" => Ok(NotifyCommand::None),
        "SET" => {
            let mut status = false;
            let mut specs = Vec::new();
            c.sp()?;
            if c.eat_word("STATUS") {
                status = true;
                c.sp()?;
            }
            loop {
                specs.push(event_group(c)?);
                if specs.len() > MAX_ITEMS {
                    return err("too many event groups");
                }
                if !c.eat(b' ') {
                    break;
                }
            }
            Ok(NotifyCommand::Set { status, specs })
        }
        _ => err("expected NOTIFY SET or NOTIFY NONE"),
    }
}

/// `(filter-mailboxes SP events)`; events are `NONE` or a parenthesized list.
fn event_group(c: &mut Cursor<'_>) -> PResult<NotifySpec> {
    c.expect(b'(', "expected an event group")?;
    let filter = match c.keyword()?.as_str() {
        "SELECTED" => NotifyFilter::Selected,
        "SELECTED-DELAYED" => NotifyFilter::SelectedDelayed,
        "INBOXES" => NotifyFilter::Inboxes,
        "PERSONAL" => NotifyFilter::Personal,
        "SUBSCRIBED" => NotifyFilter::Subscribed,
        "SUBTREE" => {
            c.sp()?;
            NotifyFilter::Subtree(mailbox_list(c)?)
        }
        "MAILBOXES" => {
            c.sp()?;
            NotifyFilter::Mailboxes(mailbox_list(c)?)
        }
        _ => return err("unknown NOTIFY filter"),
    };
    c.sp()?;
    let mut events = Vec::new();
    if !c.eat_word("NONE") {
        c.expect(b'(', "expected an event list")?;
        loop {
            events.push(event(c)?);
            if events.len() > 16 {
                return err("too many events");
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    c.expect(b')', "expected ) after the events")?;
    Ok(NotifySpec { filter, events })
}

fn mailbox_list(c: &mut Cursor<'_>) -> PResult<Vec<Vec<u8>>> {
    if !c.eat(b'(') {
        return Ok(vec![c.astring()?]);
    }
    let mut names = Vec::new();
    loop {
        names.push(c.astring()?);
        if names.len() > MAX_ITEMS {
            return err("too many mailbox names");
        }
        if c.eat(b')') {
            return Ok(names);
        }
        c.sp()?;
    }
}

fn event(c: &mut Cursor<'_>) -> PResult<NotifyEvent> {
    Ok(match c.keyword()?.as_str() {
        "MESSAGENEW" => {
            let mut atts: Vec<FetchAtt> = Vec::new();
            if c.rest().starts_with(b" (") {
                c.sp()?;
                c.expect(b'(', "expected fetch attributes")?;
                loop {
                    atts.push(fetch_att(c)?);
                    if atts.len() > 64 {
                        return err("too many fetch attributes");
                    }
                    if c.eat(b')') {
                        break;
                    }
                    c.sp()?;
                }
            }
            NotifyEvent::MessageNew(atts)
        }
        "MESSAGEEXPUNGE" => NotifyEvent::MessageExpunge,
        "FLAGCHANGE" => NotifyEvent::FlagChange,
        "ANNOTATIONCHANGE" => NotifyEvent::AnnotationChange,
        "MAILBOXNAME" => NotifyEvent::MailboxName,
        "SUBSCRIPTIONCHANGE" => NotifyEvent::SubscriptionChange,
        "MAILBOXMETADATA" => NotifyEvent::MailboxMetadata,
        "SERVERMETADATA" => NotifyEvent::ServerMetadata,
        _ => return err("unknown NOTIFY event"),
    })
}

#[cfg(test)]
mod tests {
    use crate::parser::{parse_command, Command, NotifyCommand, NotifyEvent, NotifyFilter};

    fn parse(s: &str) -> Option<NotifyCommand> {
        match parse_command(s.as_bytes()).map(|r| r.command) {
            Ok(Command::Notify(n)) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn parses_set_and_none() {
        assert_eq!(parse("a NOTIFY NONE"), Some(NotifyCommand::None));
        let Some(NotifyCommand::Set { status, specs }) = parse(
            "a NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from)]) MessageExpunge)) (subtree Lists (MessageNew)) (mailboxes (a \"b c\") (MessageNew MessageExpunge FlagChange)) (personal NONE)",
        ) else {
            panic!("did not parse");
        };
        assert!(status);
        assert_eq!(specs.len(), 4);
        assert_eq!(specs[0].filter, NotifyFilter::Selected);
        assert!(matches!(&specs[0].events[0], NotifyEvent::MessageNew(a) if a.len() == 2));
        // `subtree Lists MessageNew` is not valid (events need parentheses).
        assert!(parse("a NOTIFY SET (subtree Lists MessageNew)").is_none());
        assert_eq!(
            specs[2].filter,
            NotifyFilter::Mailboxes(vec![b"a".to_vec(), b"b c".to_vec()])
        );
        assert!(specs[3].events.is_empty());
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "a NOTIFY",
            "a NOTIFY SET",
            "a NOTIFY SET ()",
            "a NOTIFY SET (nowhere (MessageNew))",
            "a NOTIFY SET (personal (Bogus))",
            "a NOTIFY SET (personal (MessageNew)",
            "a NOTIFY SET (subtree (MessageNew))",
            "a NOTIFY MAYBE",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
