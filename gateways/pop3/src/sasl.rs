//! SASL PLAIN (RFC 4616) as POP3 AUTH uses it (RFC 5034): base64 of
//! `authzid NUL authcid NUL passwd`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use thiserror::Error;

/// Credentials carried by a PLAIN response.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("PlainCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaslError {
    #[error("invalid base64")]
    Base64,
    #[error("malformed PLAIN response")]
    Malformed,
    #[error("authorization identity differs from the authentication identity")]
    Authzid,
}

/// Decode a PLAIN response (the base64 text; "=" stands for an empty response).
pub fn decode_plain(response: &str) -> Result<PlainCredentials, SaslError> {
    let response = response.trim();
    let raw = if response == "=" {
        Vec::new()
    } else {
        STANDARD.decode(response).map_err(|_| SaslError::Base64)?
    };
    let mut parts = raw.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let authzid = std::str::from_utf8(authzid).map_err(|_| SaslError::Malformed)?;
    let username = std::str::from_utf8(authcid).map_err(|_| SaslError::Malformed)?;
    let password = std::str::from_utf8(passwd).map_err(|_| SaslError::Malformed)?;
    if username.is_empty() || password.is_empty() {
        return Err(SaslError::Malformed);
    }
    // Acting as another user is not offered: an authzid must name the same user.
    if !authzid.is_empty() && authzid != username {
        return Err(SaslError::Authzid);
    }
    Ok(PlainCredentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn decodes_plain() {
        let c = decode_plain(&enc(b"\0alice\0pw d")).expect("plain");
        assert_eq!(c.username, "alice");
        assert_eq!(c.password, "pw d");
        let c = decode_plain(&enc(b"alice\0alice\0pw")).expect("same authzid");
        assert_eq!(c.username, "alice");
        assert!(!format!("{c:?}").contains("pw"));
    }

    #[test]
    fn rejects_bad_responses() {
        assert_eq!(decode_plain("***"), Err(SaslError::Base64));
        assert_eq!(decode_plain("="), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&enc(b"alice\0pw")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&enc(b"\0alice\0")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&enc(b"\0\0pw")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&enc(b"\0a\0b\0c")), Err(SaslError::Malformed));
        assert_eq!(
            decode_plain(&enc(b"bob\0alice\0pw")),
            Err(SaslError::Authzid)
        );
        assert_eq!(decode_plain(&enc(b"\0\xff\0pw")), Err(SaslError::Malformed));
    }
}
