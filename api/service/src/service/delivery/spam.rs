//! The spam decision: a configurable header test (what the MTA's scanner wrote)
//! weighed against the user's `spamLevel`, with filters having the last word.

use eider_message::HeaderLine;
use serde::{Deserialize, Serialize};

/// `[spam]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SpamConfig {
    /// Header tests as "Header-Name: value". A message is spam when one of its
    /// top-level headers has that name (any case) and a value that starts with
    /// `value` (any case) followed by the end of the value or a non-alphanumeric
    /// character: "X-Spam-Status: Yes" matches "Yes, score=7.1 required=5.0".
    pub headers: Vec<String>,
}

impl Default for SpamConfig {
    fn default() -> Self {
        Self {
            headers: vec![
                "X-Rspamd-Spam: yes".into(),
                "X-Spam-Status: yes".into(),
                "X-Spam-Flag: yes".into(),
            ],
        }
    }
}

/// WildDuck's default `spamLevel` for users that have none set.
pub const DEFAULT_SPAM_LEVEL: u32 = 50;

/// The score a positive header test stands for on WildDuck's 0..100 scale (the
/// weight of a scanner's "rewrite subject"/"add header" verdict).
const HEADER_SPAM_SCORE: u32 = 50;

impl SpamConfig {
    /// Parsed `(name, value)` pairs; malformed entries are skipped.
    fn tests(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().filter_map(|t| {
            let (name, value) = t.split_once(':')?;
            let (name, value) = (name.trim(), value.trim());
            (!name.is_empty() && !value.is_empty()).then_some((name, value))
        })
    }

    /// Every entry must be "Name: value".
    pub fn validate(&self) -> Result<(), String> {
        for t in &self.headers {
            match t.split_once(':') {
                Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {}
                _ => {
                    return Err(format!(
                        "invalid spam header test {t:?}: expected \"Name: value\""
                    ))
                }
            }
        }
        Ok(())
    }

    /// True when the header test says the message is spam.
    pub fn header_says_spam(&self, headers: &[HeaderLine]) -> bool {
        self.tests().any(|(name, value)| {
            headers
                .iter()
                .filter(|h| h.key.trim().eq_ignore_ascii_case(name))
                .any(|h| value_matches(&h.value, value))
        })
    }
}

fn value_matches(actual: &str, expected: &str) -> bool {
    let actual = actual.trim();
    let (Some(head), Some(rest)) = (actual.get(..expected.len()), actual.get(expected.len()..))
    else {
        return false;
    };
    head.eq_ignore_ascii_case(expected) && rest.chars().next().is_none_or(|c| !c.is_alphanumeric())
}

/// Whether a message goes to Junk.
///
/// - `spamLevel` 100 means nothing is spam, whatever filters say (as in WildDuck);
/// - otherwise a filter's `spam` action decides when one matched;
/// - otherwise `spamLevel` 0 means everything is spam, and any other level compares
///   the header test's score (50 when positive, 0 when not) with the level:
///   levels 1..=50 junk what the scanner flagged, 51..=99 junk nothing on the
///   header test alone.
pub fn is_spam(header_spam: bool, spam_level: Option<u32>, filter_spam: Option<bool>) -> bool {
    let level = spam_level.unwrap_or(DEFAULT_SPAM_LEVEL);
    if level >= 100 {
        return false;
    }
    if let Some(decided) = filter_spam {
        return decided;
    }
    if level == 0 {
        return true;
    }
    let score = if header_spam { HEADER_SPAM_SCORE } else { 0 };
    score >= level
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(key: &str, value: &str) -> HeaderLine {
        HeaderLine {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn header_tests_match_name_and_value_prefix_in_any_case() {
        let cfg = SpamConfig::default();
        assert!(cfg.header_says_spam(&[h("x-rspamd-spam", "YES")]));
        assert!(cfg.header_says_spam(&[h("Subject", "hi"), h("X-Spam-Status", "Yes, score=7.1")]));
        assert!(!cfg.header_says_spam(&[h("X-Spam-Status", "No, score=0.1")]));
        assert!(!cfg.header_says_spam(&[h("X-Spam-Status", "Yesterday")]));
        assert!(!cfg.header_says_spam(&[h("Subject", "X-Spam-Status: yes")]));
        assert!(!cfg.header_says_spam(&[]));
        let none = SpamConfig { headers: vec![] };
        assert!(!none.header_says_spam(&[h("X-Rspamd-Spam", "yes")]));
        let custom = SpamConfig {
            headers: vec!["X-Verdict: junk mail".into(), "broken".into()],
        };
        assert!(custom.header_says_spam(&[h("X-Verdict", "Junk Mail (8.0)")]));
        assert!(custom.validate().is_err());
        assert!(SpamConfig::default().validate().is_ok());
        // Multi-byte values never split a character.
        assert!(!cfg.header_says_spam(&[h("X-Spam-Flag", "ÿ")]));
    }

    #[test]
    fn spam_level_and_filters_decide_in_wildduck_order() {
        assert!(is_spam(true, None, None));
        assert!(!is_spam(false, None, None));
        assert!(is_spam(false, Some(0), None));
        assert!(!is_spam(true, Some(100), Some(true)));
        assert!(!is_spam(true, Some(50), Some(false)));
        assert!(is_spam(false, Some(50), Some(true)));
        assert!(!is_spam(true, Some(75), None));
        assert!(is_spam(true, Some(25), None));
        assert!(!is_spam(false, Some(0), Some(false)));
    }
}
