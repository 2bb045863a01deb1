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
