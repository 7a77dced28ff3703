//! Domain access lists (WildDuck's `/domainaccess`): per user tag, sender domains or
//! addresses whose mail is never spam (allow) or always spam (block). Delivery asks
//! [`Service::sender_access`] before the filters, as WildDuck's filter handler does.

use chrono::Utc;

use super::Service;
use crate::model::User;
use crate::normalize::{domain_unicode, parse_address};
use crate::{DomainAccess, DomainAction, Error, ObjectId, Result};

/// Longest tag and domain WildDuck accepts.
const MAX_TAG: usize = 128;
const MAX_DOMAIN: usize = 255;

/// The stored form of a listed sender: a domain in lower-case unicode, or an address
/// with its local part lower-cased and its domain so (case and IDN folded only: dots
/// and +labels are distinct senders on most domains).
pub fn access_key(input: &str) -> Option<String> {
    let s = input.trim();
    if s.contains('@') {
        let a = parse_address(s).ok()?;
        if a.is_wildcard() {
            return None;
        }
        Some(format!("{}@{}", a.local.to_lowercase(), a.domain))
    } else {
        domain_unicode(s)
    }
}

fn check_tag(tag: &str) -> Result<String> {
    let t = tag.trim();
    if t.is_empty() {
        return Err(Error::InvalidField(
            "tag",
            "\"tag\" is not allowed to be empty".into(),
        ));
    }
    if t.chars().count() > MAX_TAG {
        return Err(Error::InvalidField(
            "tag",
            format!("\"tag\" length must be less than or equal to {MAX_TAG} characters long"),
        ));
    }
    Ok(t.to_string())
}

impl Service {
    /// POST /domainaccess/{tag}/{action}: list `domain` (or an address) for `tag`; a
    /// listing of the same tag and domain changes its action and keeps its id.
    pub async fn add_domain_access(
        &self,
        tag: &str,
        domain: &str,
        action: DomainAction,
    ) -> Result<DomainAccess> {
        let tag = check_tag(tag)?;
        if domain.chars().count() > MAX_DOMAIN {
            return Err(Error::InvalidField(
                "domain",
                format!(
                    "\"domain\" length must be less than or equal to {MAX_DOMAIN} characters long"
                ),
            ));
        }
        let key = access_key(domain).ok_or_else(|| {
            Error::InvalidField(
                "domain",
                "\"domain\" must be a valid domain name or email address".into(),
            )
        })?;
        let entry = DomainAccess {
            id: ObjectId::new(),
            tagview: tag.to_lowercase(),
            tag,
            domain: key,
            action,
            created: Utc::now(),
        };
        Ok(self.store().upsert_domain_access(&entry).await?)
    }

    /// GET /domainaccess/{tag}/{action}: the listings, ordered by domain.
    pub async fn list_domain_access(
        &self,
        tag: &str,
        action: DomainAction,
    ) -> Result<Vec<DomainAccess>> {
        let tag = check_tag(tag)?;
        Ok(self
            .store()
            .list_domain_access(&tag.to_lowercase(), action)
            .await?)
    }

    /// DELETE /domainaccess/{id}.
    pub async fn delete_domain_access(&self, id: ObjectId) -> Result<()> {
        if self.store().delete_domain_access(id).await? {
            Ok(())
        } else {
            Err(Error::DomainAccessNotFound)
        }
    }

    /// The listing that applies to mail from `from` (the message's From, else Sender)
    /// for `user`: one of the user's tags listing the sender's address, else its domain.
    /// At one level a block wins over an allow (another tag may list the sender too).
    pub(crate) async fn sender_access(
        &self,
        user: &User,
        from: &str,
    ) -> Result<Option<DomainAccess>> {
        if user.tags.is_empty() {
            return Ok(None);
        }
        let Some(address) = access_key(from).filter(|k| k.contains('@')) else {
            return Ok(None);
        };
        let domain = address.rsplit('@').next().unwrap_or_default().to_string();
        let tagviews: Vec<String> = user.tags.iter().map(|t| t.trim().to_lowercase()).collect();
        let found = self
            .store()
            .match_domain_access(&tagviews, &[address.clone(), domain.clone()])
            .await?;
        let pick = |key: &str| {
            let at: Vec<&DomainAccess> = found.iter().filter(|d| d.domain == key).collect();
            at.iter()
                .find(|d| d.action == DomainAction::Block)
                .or_else(|| at.first())
                .map(|d| (*d).clone())
        };
        Ok(pick(&address).or_else(|| pick(&domain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_idn_only() {
        assert_eq!(access_key(" Example.COM ").as_deref(), Some("example.com"));
        assert_eq!(
            access_key("xn--bcher-kva.example").as_deref(),
            Some("bücher.example")
        );
        assert_eq!(
            access_key("John.Doe+x@Example.com").as_deref(),
            Some("john.doe+x@example.com")
        );
        assert_eq!(access_key("not a domain"), None);
        assert_eq!(access_key("*@example.com"), None);
        assert_eq!(access_key("a@"), None);
    }
}
