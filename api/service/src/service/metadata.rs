//! IMAP METADATA (RFC 5464): entry names, the size and count limits, and the
//! depth rule of GETMETADATA. Entries are kept by the store per user, on the
//! server (no mailbox) or on a mailbox; "/private" and "/shared" are both the
//! user's own (mailboxes are not shared).

use super::Service;
use crate::{Error, MetadataEntry, ObjectId, Result, StoreError};

/// Largest value of one entry (bytes): RFC 5464's MAXSIZE.
pub const METADATA_MAX_SIZE: u64 = 64 * 1024;
/// Most entries one user may have, server and mailboxes together (TOOMANY).
pub const METADATA_MAX_ENTRIES: u64 = 512;
/// Longest entry name.
const MAX_NAME: usize = 1024;

/// How far below a requested name GETMETADATA looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataDepth {
    Zero,
    One,
    Infinity,
}

/// Why SETMETADATA changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRefused {
    /// A value is longer than [`METADATA_MAX_SIZE`].
    TooLarge,
    /// The user would have more than [`METADATA_MAX_ENTRIES`] entries.
    TooMany,
}

/// The canonical (lower-case) form of an entry name GETMETADATA may ask for, or
/// why it is not one: "/private" or "/shared" or below them, printable ASCII
/// without `*` or `%`, no empty component and no trailing "/" (RFC 5464 3.2).
pub fn metadata_name(name: &str) -> Result<String> {
    let lower = name.to_ascii_lowercase();
    let bad = |why: &str| Err(Error::Validation(format!("Invalid entry name: {why}")));
    if lower.len() > MAX_NAME {
        return bad("too long");
    }
    if !(lower.starts_with("/private/")
        || lower.starts_with("/shared/")
        || lower == "/private"
        || lower == "/shared")
    {
        return bad("must start with /private or /shared");
    }
    if lower
        .bytes()
        .any(|b| !(0x20..0x7f).contains(&b) || b == b'*' || b == b'%')
    {
        return bad("invalid character");
    }
    if lower.ends_with('/') || lower.contains("//") {
        return bad("empty component");
    }
    Ok(lower)
}

/// The canonical form of an entry name SETMETADATA may set: as [`metadata_name`],
/// below "/private" or "/shared" (those two hold no value themselves).
pub fn metadata_entry_name(name: &str) -> Result<String> {
    let n = metadata_name(name)?;
    if n == "/private" || n == "/shared" {
        return Err(Error::Validation(
            "Invalid entry name: /private and /shared hold no value".into(),
        ));
    }
    Ok(n)
}

impl Service {
    /// Entries named by `names` (canonical, see [`metadata_name`]) and, per `depth`,
    /// those below them, on the server (`mailbox` None) or a mailbox, by name.
    pub async fn get_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
        names: &[String],
        depth: MetadataDepth,
    ) -> Result<Vec<MetadataEntry>> {
        if let Some(m) = mailbox {
            self.get_mailbox(user, m).await?;
        }
        let all = self.store().list_metadata(user, mailbox).await?;
        Ok(all
            .into_iter()
            .filter(|e| {
                names.iter().any(|n| {
                    if e.name == *n {
                        return true;
                    }
                    let Some(rest) = e.name.strip_prefix(n.as_str()) else {
                        return false;
                    };
                    let Some(below) = rest.strip_prefix('/') else {
                        return false;
                    };
                    match depth {
                        MetadataDepth::Zero => false,
                        MetadataDepth::One => !below.contains('/'),
                        MetadataDepth::Infinity => true,
                    }
                })
            })
            .collect())
    }

    /// Set (`Some`) or remove (`None`) entries (canonical names), all or none.
    pub async fn set_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
        changes: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<std::result::Result<(), MetadataRefused>> {
        if let Some(m) = mailbox {
            self.get_mailbox(user, m).await?;
        } else {
            self.get_user(user).await?;
        }
        if changes.iter().any(|(_, v)| {
            v.as_ref()
                .is_some_and(|v| v.len() as u64 > METADATA_MAX_SIZE)
        }) {
            return Ok(Err(MetadataRefused::TooLarge));
        }
        match self
            .store()
            .set_metadata(user, mailbox, &changes, METADATA_MAX_ENTRIES)
            .await
        {
            Ok(()) => Ok(Ok(())),
            Err(StoreError::LimitReached(_)) => Ok(Err(MetadataRefused::TooMany)),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            metadata_name("/Private/Comment").ok().as_deref(),
            Some("/private/comment")
        );
        assert!(metadata_name("/shared/vendor/x/y").is_ok());
        assert!(metadata_name("/private").is_ok() && metadata_entry_name("/private").is_err());
        assert!(metadata_entry_name("/private/x").is_ok());
        for bad in [
            "/privatex",
            "/other/x",
            "/private/",
            "/private//x",
            "/private/a*",
            "/shared/%",
            "/shared/\u{e9}",
        ] {
            assert!(metadata_name(bad).is_err(), "{bad}");
        }
    }
}
