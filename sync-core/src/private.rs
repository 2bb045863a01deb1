//! What `#[derive(Syncable)]` generates code against. Not a public API: it may change in any
//! release.

pub use std::{
    default::Default, iter::IntoIterator, option::Option, option::Option::None,
    option::Option::Some, result::Result, result::Result::Err, result::Result::Ok, string::String,
    vec, vec::Vec,
};

pub use chrono::{DateTime, Utc};

pub use crate::entity::{
    Column, DecodeError, Field, IdField, Role, SqlType, Syncable, UpdatedAtField, Value,
    decode_field, decode_json, json_from_value, json_to_value, next_column,
};

/// Asserts at compile time that a `#[sync(skip)]` field can be rebuilt from nothing.
pub fn assert_default<T: Default>() {}

/// Asserts at compile time that a `#[sync(json)]` field is a serde type.
pub fn assert_json<T: serde::Serialize + serde::de::DeserializeOwned>() {}

/// Decodes the next column of a row with `decode`, naming `column` in any error.
///
/// Unlike [`decode_field`], this has no trait bound of its own: the derive passes
/// `<FieldTy as Field>::from_value` spanned at the field's type, so an unsupported type is
/// reported once, at the field, with the same diagnostic as its other uses.
pub fn decode<T>(
    values: &mut std::vec::IntoIter<Value>,
    column: &'static str,
    decode: fn(Value) -> Result<T, String>,
) -> Result<T, DecodeError> {
    decode(next_column(values, column)?).map_err(|message| DecodeError::new(column, message))
}

pub use crate::entity::stream::{BucketKey, Keys, Stream, Via, membership_column};
pub use crate::entity::{Payload, RegistryBuilder, Schema};
pub use crate::merge::{FIELD_VERSIONS, FieldMerge, Fields, Merge, Policy};
pub use crate::typescript::{Interface, Probe, Property, Unknown, ViaTsType};
pub use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use serde_json::{Error as JsonError, Value as Json};
pub use std::borrow::ToOwned;
pub use std::convert::From;

/// Serialises an entity of a payload enum as `{"entityType": …, "payload": …}`.
pub fn serialize_tagged<T: Syncable, S: Serializer>(
    entity_type: &'static str,
    entity: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        #[serde(rename = "entityType")]
        entity_type: &'static str,
        payload: &'a T,
    }
    Tagged {
        entity_type,
        payload: entity,
    }
    .serialize(serializer)
}

/// Deserialises a payload enum from `{"entityType": …, "payload": …}` (or `entity_type`
/// and `data`), ignoring other fields.
pub fn deserialize_tagged<'de, P: Schema, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<P, D::Error> {
    #[derive(Deserialize)]
    struct Tagged {
        #[serde(rename = "entityType", alias = "entity_type")]
        entity_type: String,
        #[serde(default, alias = "data")]
        payload: serde_json::Value,
    }
    let tagged = Tagged::deserialize(deserializer)?;
    match P::from_json(&tagged.entity_type, tagged.payload) {
        Ok(Some(payload)) => Ok(payload),
        Ok(None) => Err(serde::de::Error::custom(format_args!(
            "unknown entity type {:?}: expected one of {}",
            tagged.entity_type,
            P::ENTITIES.join(", ")
        ))),
        Err(error) => Err(serde::de::Error::custom(format_args!(
            "{}: {error}",
            tagged.entity_type
        ))),
    }
}

/// Decodes `data` as `T` into the variant `wrap`, for a payload enum's
/// [`Payload::from_json`].
pub fn decode_variant<T: Syncable, P>(
    data: serde_json::Value,
    wrap: fn(T) -> P,
) -> Result<Option<P>, serde_json::Error> {
    serde_json::from_value(data).map(|entity| Some(wrap(entity)))
}

/// The JSON of an entity of a payload enum, for [`Payload::to_json`].
pub fn entity_json<T: Syncable>(entity: &T) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(entity)
}

/// The items of an array as a `Vec`, without naming `From`, which generated code cannot
/// assume in scope.
pub fn vec_of<T, const N: usize>(items: [T; N]) -> Vec<T> {
    Vec::from(items)
}
