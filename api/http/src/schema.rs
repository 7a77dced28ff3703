//! Response parts shared by many routes.

use axum::Json;
use serde::{Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// `{success: true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessResponse {
    /// Indicates successful response
    pub success: bool,
}

pub fn ok() -> Json<SuccessResponse> {
    Json(SuccessResponse { success: true })
}

/// A paging cursor: a string, or `false` when there is no such page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub Option<String>);

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(c) => s.serialize_str(c),
            None => s.serialize_bool(false),
        }
    }
}

/// Schema of [`Cursor`].
pub fn cursor_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .description(Some(
            "Either a cursor string or false if there are not any more results",
        ))
        .into()
}

/// A number, or `false` when unset (user retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberOrFalse(pub Option<u64>);

impl Serialize for NumberOrFalse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(n) => s.serialize_u64(n),
            None => s.serialize_bool(false),
        }
    }
}

/// Schema of [`NumberOrFalse`].
pub fn number_or_false_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Number)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .into()
}

/// A list of names, or `false` when empty (WildDuck's `require2fa`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOrFalse(pub Vec<String>);

impl Serialize for ListOrFalse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_bool(false)
        } else {
            self.0.serialize(s)
        }
    }
}

/// Schema of [`ListOrFalse`].
pub fn list_or_false_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))),
        )
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .description(Some("List of enabled 2FA mechanisms, or false when none"))
        .into()
}

/// A free-form JSON object.
pub fn any_object_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .into()
}

/// Timestamps as WildDuck renders them (ISO 8601 with milliseconds, UTC).
pub fn iso(d: &chrono::DateTime<chrono::Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Raw bytes (message sources, attachment contents).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(#[allow(dead_code)] Vec<u8>);
