//! IDLE (RFC 2177): report changes as their beacons arrive, until DONE.

use std::io;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::response::Reply;
use crate::session::{Session, State, MAX_LINE};
use crate::transport::Line;

impl Session {
    pub(crate) async fn cmd_idle(&mut self, tag: &str) -> io::Result<Option<Reply>> {
        // Report what is already pending before going quiet.
        if self.state == State::Selected {
            self.sync(true).await?;
        }
        self.conn.write(b"+ idling\r\n");
        self.conn.flush().await?;
        let mut beacons = self.beacons.take();
        let mut stop = self.shared.stop.clone();
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(self.shared.config.idle_timeout.max(1));
        let outcome = loop {
            self.conn.release_buffers();
            let selected = self.selected.as_ref().map(|s| s.id);
            tokio::select! {
                line = self.conn.read_line(MAX_LINE) => match line? {
                    None => break Err::<Reply, io::Error>(io::ErrorKind::UnexpectedEof.into()),
                    Some(Line::Data(l)) if l.eq_ignore_ascii_case(b"DONE") => {
                        break Ok(Reply::ok("IDLE terminated"));
                    }
                    Some(_) => break Ok(Reply::bad("Expected DONE")),
                },
                beacon = async {
                    match beacons.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let relevant = match beacon {
                        Ok(b) if self.auth_source.ended_by(&b) => {
                            self.untagged("BYE Logged out");
                            self.state = State::Logout;
                            break Ok(Reply::ok("IDLE terminated"));
                        }
                        Ok(b) => selected.is_some() && b.mailbox.is_none_or(|m| Some(m) == selected),
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => {
                            beacons = None;
                            false
                        }
                    };
                    // NOTIFY's events for other mailboxes come during IDLE too.
                    if self.notify.is_some() && beacons.is_some() {
                        self.notify_deliver().await?;
                        self.conn.flush().await?;
                    }
                    if relevant {
                        // Coalesce a burst of beacons into one journal read.
                        if let Some(rx) = beacons.as_mut() {
                            while rx.try_recv().is_ok() {}
                        }
                        self.sync(true).await?;
                        self.update_contexts().await?;
                        self.conn.flush().await?;
                        if self.state == State::Logout {
                            break Ok(Reply::ok("IDLE terminated"));
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.untagged("BYE Autologout; idle for too long");
                    self.state = State::Logout;
                    break Ok(Reply::ok("IDLE terminated"));
                }
                _ = stop.changed() => {
                    self.untagged("BYE Server shutting down");
                    self.state = State::Logout;
                    break Ok(Reply::ok("IDLE terminated"));
                }
            }
        };
        self.beacons = beacons;
        let reply = outcome?;
        reply.write(tag, self.conn.out());
        Ok(None)
    }
}
