//! Connection and authentication: ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN
//! (with SASL-IR), COMPRESS, ENABLE.

use std::io;

use base64::Engine;
use eider_service::{AuthRequest, Protocol};

use crate::response::{sanitize, service_error, write_string, Reply};
use crate::session::{Session, State, MAX_PREAUTH_COMMAND};
use crate::transport::Line;

impl Session {
    pub(crate) fn cmd_id(&mut self, params: Option<Vec<(String, Option<String>)>>) -> Reply {
        if let Some(p) = &params {
            let client: Vec<String> = p
                .iter()
                .take(8)
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        sanitize(k),
                        sanitize(v.as_deref().unwrap_or("NIL"))
                    )
                })
                .collect();
            tracing::debug!(remote = %self.conn.remote, "client ID {}", client.join(" "));
        }
        let mut line = b"* ID (".to_vec();
        let fields = [
            ("name", "Eider"),
            ("vendor", "Eider"),
            ("version", env!("CARGO_PKG_VERSION")),
        ];
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            write_string(&mut line, k.as_bytes(), false);
            line.push(b' ');
            write_string(&mut line, v.as_bytes(), false);
        }
        line.extend_from_slice(b")\r\n");
        self.conn.out().extend_from_slice(&line);
        Reply::ok("ID completed")
    }

    pub(crate) async fn cmd_starttls(&mut self, tag: &str) -> io::Result<Option<Reply>> {
        if self.conn.tls {
            return Ok(Some(Reply::bad("TLS is already active")));
        }
        let Some(tls) = self
            .shared
            .tls
            .as_ref()
            .filter(|_| !self.shared.config.disable_starttls)
        else {
            return Ok(Some(Reply::bad("STARTTLS is not available")));
        };
        if self.state != State::NotAuthenticated {
            return Ok(Some(Reply::bad("STARTTLS is only allowed before login")));
        }
        let acceptor = tls.acceptor();
        Reply::ok("Begin TLS negotiation now").write(tag, self.conn.out());
        self.conn.flush().await?;
        self.conn.start_tls(acceptor, false).await?;
        Ok(None)
    }

    pub(crate) async fn cmd_login(&mut self, username: String, password: String) -> Reply {
        if self.login_disabled() {
            return Reply::no("Plaintext login is disabled; use STARTTLS first")
                .with_code("PRIVACYREQUIRED");
        }
        self.authenticate(username, password).await
    }

    async fn authenticate(&mut self, username: String, password: String) -> Reply {
        let req = AuthRequest {
            username,
            password,
            protocol: Protocol::Imap,
            remote_ip: Some(self.conn.remote.ip()),
        };
        match self.service().authenticate(&req).await {
            Ok(success) => self.logged_in(success.user, success.source).await,
            Err(e) => {
                tracing::info!(remote = %self.conn.remote, "IMAP login failed");
                service_error(&e)
            }
        }
    }

    pub(crate) async fn cmd_authenticate(
        &mut self,
        mechanism: String,
        initial: Option<String>,
    ) -> io::Result<Reply> {
        if mechanism != "PLAIN" {
            return Ok(Reply::no("Unsupported authentication mechanism").with_code("CANNOT"));
        }
        if self.login_disabled() {
            return Ok(
                Reply::no("Plaintext authentication is disabled; use STARTTLS first")
                    .with_code("PRIVACYREQUIRED"),
            );
        }
        let response = match initial {
            Some(ir) => ir.into_bytes(),
            None => {
                self.conn.write(b"+ \r\n");
                self.conn.flush().await?;
                match self.conn.read_line(MAX_PREAUTH_COMMAND).await? {
                    None => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Some(Line::TooLong(_)) => {
                        return Ok(Reply::bad("Authentication data too long"))
                    }
                    Some(Line::Data(l)) => l,
                }
            }
        };
        if response == b"*" {
            return Ok(Reply::bad("Authentication cancelled"));
        }
        let decoded = if response == b"=" {
            Vec::new()
        } else {
            match base64::engine::general_purpose::STANDARD.decode(&response) {
                Ok(d) => d,
                Err(_) => return Ok(Reply::bad("Invalid base64 in authentication data")),
            }
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(Reply::bad("Invalid SASL PLAIN message"));
        };
        let (Ok(authzid), Ok(authcid), Ok(password)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(authcid),
            std::str::from_utf8(password),
        ) else {
            return Ok(Reply::bad("Invalid SASL PLAIN message"));
        };
        if !authzid.is_empty() && authzid != authcid {
            return Ok(
                Reply::no("Authorization identity not permitted").with_code("AUTHORIZATIONFAILED")
            );
        }
        Ok(self
            .authenticate(authcid.to_string(), password.to_string())
            .await)
    }

    pub(crate) async fn cmd_compress(
        &mut self,
        tag: &str,
        alg: String,
    ) -> io::Result<Option<Reply>> {
        if !self.shared.config.enable_compression {
            return Ok(Some(Reply::bad("COMPRESS is not enabled")));
        }
        if self.conn.compressed {
            return Ok(Some(
                Reply::no("Compression is already active").with_code("COMPRESSIONACTIVE"),
            ));
        }
        if alg != "DEFLATE" {
            return Ok(Some(Reply::bad("Unsupported compression mechanism")));
        }
        Reply::ok("DEFLATE active").write(tag, self.conn.out());
        self.conn.flush().await?;
        self.conn.start_compression()?;
        Ok(None)
    }

    pub(crate) fn cmd_enable(&mut self, caps: Vec<String>) -> Reply {
        let mut enabled = Vec::new();
        for cap in caps {
            match cap.as_str() {
                "CONDSTORE" => {
                    self.enable_condstore();
                    enabled.push(cap);
                }
                "QRESYNC" => {
                    self.enable_condstore();
                    self.qresync = true;
                    enabled.push(cap);
                }
                "UTF8=ACCEPT" => {
                    self.utf8 = true;
                    enabled.push(cap);
                }
                "IMAP4REV2" => {
                    // RFC 9051 5.1: rev2 mailbox names and quoted strings are UTF-8,
                    // as with UTF8=ACCEPT.
                    self.rev2 = true;
                    self.utf8 = true;
                    enabled.push("IMAP4rev2".into());
                }
                _ => {}
            }
        }
        let line = format!("ENABLED {}", enabled.join(" "));
        self.untagged(line.trim_end());
        Reply::ok("ENABLE completed")
    }
}
