//! Lenient field parsers, as WildDuck's Joi schemas convert: booleans from
//! "true"/"1"/"yes", numbers from numeric strings, tags from comma-separated
//! strings, `false` for "none". Query strings and JSON bodies both arrive as
//! serde_json values, so one set of parsers serves both.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn truthy(v: &Value) -> Option<Option<bool>> {
    match v {
        Value::Null => Some(None),
        Value::Bool(b) => Some(Some(*b)),
        Value::Number(n) => {
            let x = n.as_f64()?;
            if x == 1.0 {
                Some(Some(true))
            } else if x == 0.0 {
                Some(Some(false))
            } else {
                None
            }
        }
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Some(None),
            "true" | "1" | "yes" | "y" | "on" => Some(Some(true)),
            "false" | "0" | "no" | "n" | "off" => Some(Some(false)),
            _ => None,
        },
        _ => None,
    }
}

/// An optional boolean ("" and null mean absent).
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    truthy(&v).ok_or_else(|| D::Error::custom("must be a boolean"))
}

/// A boolean defaulting to false.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_bool(d)?.unwrap_or(false))
}

fn number(v: &Value) -> Option<Option<f64>> {
    match v {
        Value::Null => Some(None),
        Value::Number(n) => n.as_f64().map(Some),
        Value::String(s) if s.trim().is_empty() => Some(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some),
        _ => None,
    }
}

/// An optional non-negative integer (floats are truncated, as Joi numbers are used).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    match number(&v) {
        Some(None) => Ok(None),
        Some(Some(x)) if x >= 0.0 && x <= u64::MAX as f64 => Ok(Some(x.trunc() as u64)),
        Some(Some(_)) => Err(D::Error::custom("must be greater than or equal to 0")),
        None => Err(D::Error::custom("must be a number")),
    }
}

/// An optional u32 (message UIDs, page numbers).
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match opt_u64(d)? {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom("is too large")),
    }
}

/// An optional string; numbers are accepted as their text.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(D::Error::custom("must be a string")),
    }
}

/// A string and only a string (WildDuck's Joi.string() does not convert numbers).
pub fn strict_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        _ => Err(D::Error::custom("must be a string")),
    }
}

/// An optional strict string; null is absent.
pub fn opt_strict_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(D::Error::custom("must be a string")),
    }
}

/// Tags or other lists: a JSON array of strings or a comma-separated string.
pub fn opt_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(
            s.split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        )),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => Err(D::Error::custom("must be an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(D::Error::custom("must be an array of strings")),
    }
}

/// A timestamp: RFC 3339, a date, or milliseconds since the epoch.
pub fn parse_date(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return Some(d.with_timezone(&Utc));
            }
            if let Ok(d) = DateTime::parse_from_rfc2822(s) {
                return Some(d.with_timezone(&Utc));
            }
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
            }
            if let Ok(ms) = s.parse::<i64>() {
                return Utc.timestamp_millis_opt(ms).single();
            }
            None
        }
        _ => None,
    }
}

/// An optional timestamp.
pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        v => parse_date(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom("must be a valid date")),
    }
}

/// A value that is either set or explicitly turned off with `false` (passwords,
/// expiry dates, validAfter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrFalse<T> {
    Off,
    Set(T),
}

/// `false`/"" or a string.
pub fn opt_string_or_false<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OrFalse<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(false) => Ok(Some(OrFalse::Off)),
        Value::String(s) if s.is_empty() => Ok(Some(OrFalse::Off)),
        Value::String(s) => Ok(Some(OrFalse::Set(s))),
        _ => Err(D::Error::custom("must be a string or false")),
    }
}

/// `false` or a timestamp.
pub fn opt_date_or_false<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OrFalse<DateTime<Utc>>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(false) => Ok(Some(OrFalse::Off)),
        Value::String(s) if s.trim().is_empty() || s == "false" => Ok(Some(OrFalse::Off)),
        v => parse_date(&v)
            .map(|d| Some(OrFalse::Set(d)))
            .ok_or_else(|| D::Error::custom("must be a valid date or false")),
    }
}

/// Any JSON value except null (metaData: an object or a JSON string of one; the
/// service checks which).
pub fn opt_any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => Ok(Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct T {
        #[serde(deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(deserialize_with = "opt_u64")]
        n: Option<u64>,
        #[serde(deserialize_with = "opt_list")]
        l: Option<Vec<String>>,
        #[serde(deserialize_with = "opt_string_or_false")]
        p: Option<OrFalse<String>>,
        #[serde(deserialize_with = "opt_date")]
        d: Option<DateTime<Utc>>,
    }

    fn parse(v: Value) -> Result<T, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn lenient_values() {
        let t = parse(serde_json::json!({"b": "yes", "n": "42", "l": "a, b,,c", "p": false, "d": "2024-01-02"}))
            .expect("parses");
        assert_eq!(t.b, Some(true));
        assert_eq!(t.n, Some(42));
        assert_eq!(t.l, Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(t.p, Some(OrFalse::Off));
        assert_eq!(t.d.map(|d| d.timestamp()), Some(1_704_153_600));
        let t =
            parse(serde_json::json!({"b": "", "n": 5.0, "l": ["x"], "p": "pw"})).expect("parses");
        assert_eq!(
            (t.b, t.n, t.p),
            (None, Some(5), Some(OrFalse::Set("pw".into())))
        );
        assert!(parse(serde_json::json!({"b": "maybe"})).is_err());
        assert!(parse(serde_json::json!({"n": -1})).is_err());
        assert!(parse(serde_json::json!({"n": "x"})).is_err());
        assert!(parse(serde_json::json!({"l": [1]})).is_err());
        assert!(parse(serde_json::json!({"d": "tomorrow"})).is_err());
    }
}
