//! Request extractors that answer bad input the WildDuck way (400
//! InputValidationError with per-field details), and the caller's identity.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use eider_service::api::Principal;
use eider_service::ObjectId;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Turn a deserialization failure into InputValidationError naming the field.
fn validation_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.inner().to_string();
    // serde reports missing fields at the parent with the name in backticks.
    let missing = inner
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .map(str::to_string);
    let (field, problem) = match missing {
        Some(name) => (name, "is required".to_string()),
        None => {
            let field = if path == "." {
                "value".to_string()
            } else {
                path
            };
            // Drop serde's position suffix (" at line 1 column 9").
            let problem = inner
                .split(" at line ")
                .next()
                .unwrap_or(&inner)
                .to_string();
            (field, problem)
        }
    };
    ApiError::invalid(&field, problem)
}

fn from_value<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    match serde_path_to_error::deserialize::<_, T>(v.clone()) {
        Ok(t) => Ok(t),
        Err(e)
            if e.path().to_string() == "."
                && !e.inner().to_string().starts_with("missing field") =>
        {
            // Errors inside #[serde(flatten)] parts lose their path: find the key
            // whose removal makes this error go away.
            let message = e.inner().to_string();
            let culprit = v.as_object().and_then(|obj| {
                obj.keys().find(|key| {
                    let mut without = obj.clone();
                    without.remove(*key);
                    match serde_json::from_value::<T>(Value::Object(without)) {
                        Ok(_) => true,
                        Err(other) => {
                            let m = other.to_string();
                            m != message && !m.starts_with("missing field")
                        }
                    }
                })
            });
            match culprit {
                Some(key) => Err(ApiError::invalid(
                    key,
                    message.split(" at line ").next().unwrap_or(&message),
                )),
                None => Err(validation_error(e)),
            }
        }
        Err(e) => Err(validation_error(e)),
    }
}

/// A JSON body; an empty body reads as `{}`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                },
                "InputValidationError",
                e.body_text(),
            )
        })?;
        parse_json_body(&bytes).map(ApiJson)
    }
}

/// Parse a JSON request body (empty means `{}`).
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            let mut details = BTreeMap::new();
            details.insert("body".to_string(), e.to_string());
            ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "InputValidationError",
                message: format!("Invalid JSON body: {e}"),
                details: Some(details),
            }
        })?
    };
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be an object"));
    }
    from_value(value)
}

/// Query parameters. Dotted or bracketed keys (`or.from`, `or[from]`) build
/// nested objects, as WildDuck's query parser does; repeated keys keep the last.
pub struct ApiQuery<T>(pub T);

/// Split `a.b` / `a[b]` into path segments.
fn key_path(key: &str) -> Vec<String> {
    key.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Build the nested object a query string describes.
pub fn query_object(query: &str) -> ApiResult<Value> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::invalid("query", format!("is malformed: {e}")))?;
    let mut root = Map::new();
    for (key, value) in pairs {
        if key == "accessToken" {
            continue;
        }
        let path = key_path(&key);
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut node = &mut root;
        for p in parents {
            let entry = node
                .entry(p.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(m) => node = m,
                _ => return Err(ApiError::invalid(&key, "is malformed")),
            }
        }
        node.insert(last.clone(), Value::String(value));
    }
    Ok(Value::Object(root))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = query_object(parts.uri.query().unwrap_or(""))?;
        from_value(value).map(ApiQuery)
    }
}

/// Who the request acts for (set by the access middleware).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The access token the request carried, if any.
    pub token: Option<String>,
}

impl Caller {
    /// The user a `{user}` path segment names, if this caller may act for it.
    pub fn user(&self, requested: &str) -> ApiResult<ObjectId> {
        self.principal
            .user(requested)
            .map_err(|e| ApiError::from(e).on_field("user"))
    }

    pub fn require_root(&self) -> ApiResult<()> {
        Ok(self.principal.require_root()?)
    }

    pub fn is_root(&self) -> bool {
        self.principal.is_root()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "access control did not run",
            )
        })
    }
}

/// A 24-hex id from the path or body; 400 naming `field` otherwise.
pub fn object_id(field: &str, value: &str) -> ApiResult<ObjectId> {
    ObjectId::parse(value.trim())
        .ok_or_else(|| ApiError::invalid(field, "must be a 24 character hex string"))
}

/// A message UID from the path.
pub fn message_uid(value: &str) -> ApiResult<u32> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid("message", "must be a positive number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        username: String,
        #[serde(default, deserialize_with = "crate::de::opt_u64")]
        quota: Option<u64>,
    }

    #[test]
    fn bodies_report_fields() {
        let e = parse_json_body::<Body>(br#"{"quota": 1}"#).expect_err("missing username");
        assert_eq!(e.code, "InputValidationError");
        assert!(e
            .details
            .as_ref()
            .is_some_and(|d| d.contains_key("username")));
        let e =
            parse_json_body::<Body>(br#"{"username":"a","quota":"lots"}"#).expect_err("bad quota");
        assert!(e.details.as_ref().is_some_and(|d| d.contains_key("quota")));
        assert!(parse_json_body::<Body>(b"{not json").is_err());
        assert!(parse_json_body::<Body>(b"[1]").is_err());
        assert!(parse_json_body::<Body>(br#"{"username":"a"}"#).is_ok());
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default, deserialize_with = "crate::de::opt_u64")]
        limit: Option<u64>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(flatten)]
        inner: Inner,
    }

    #[test]
    fn flattened_fields_are_named() {
        let e = parse_json_body::<Outer>(br#"{"name":"x","limit":"many"}"#).expect_err("bad limit");
        assert!(
            e.details.as_ref().is_some_and(|d| d.contains_key("limit")),
            "{e:?}"
        );
        let e = parse_json_body::<Outer>(br#"{"limit":"5"}"#).expect_err("missing name");
        assert!(
            e.details.as_ref().is_some_and(|d| d.contains_key("name")),
            "{e:?}"
        );
    }

    #[test]
    fn queries_nest() {
        let v = query_object("a=1&or.from=x&or%5Bto%5D=y&accessToken=secret").expect("parses");
        assert_eq!(
            v,
            serde_json::json!({"a": "1", "or": {"from": "x", "to": "y"}})
        );
    }
}
