//! Command monitoring for measurements and tests: which commands the store sends,
//! so that round trips per operation can be counted and every query shape explained.

use std::sync::{Arc, Mutex};

use mongodb::bson::Document;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;

/// One command the driver sent.
#[derive(Clone, Debug)]
pub struct SentCommand {
    /// "find", "insert", "commitTransaction", …
    pub name: String,
    /// The collection it addresses, when it has one.
    pub collection: Option<String>,
    /// The command document as sent (session fields included).
    pub command: Document,
}

/// Records the commands a store sends (from the driver's command monitoring).
#[derive(Clone, Default)]
pub struct CommandLog {
    sent: Arc<Mutex<Vec<SentCommand>>>,
}

impl CommandLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Commands recorded since the last `take`, oldest first.
    pub fn take(&self) -> Vec<SentCommand> {
        match self.sent.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    pub(crate) fn handler(&self) -> EventHandler<CommandEvent> {
        let sent = self.sent.clone();
        EventHandler::callback(move |e: CommandEvent| {
            let CommandEvent::Started(e) = e else {
                return;
            };
            let collection = e.command.get_str(&e.command_name).ok().map(str::to_string);
            let c = SentCommand {
                name: e.command_name,
                collection,
                command: e.command,
            };
            match sent.lock() {
                Ok(mut v) => v.push(c),
                Err(poisoned) => poisoned.into_inner().push(c),
            }
        })
    }
}
