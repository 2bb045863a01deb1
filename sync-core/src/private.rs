//! What `#[derive(Syncable)]` generates code against. Not a public API: it may change in any
//! release.

pub use std::{
    default::Default, option::Option, option::Option::None, option::Option::Some, result::Result,
    result::Result::Err, result::Result::Ok, string::String, vec, vec::Vec,
};

pub use chrono::{DateTime, Utc};

pub use crate::entity::{
    Column, DecodeError, Field, IdField, Role, SqlType, Syncable, UpdatedAtField, Value,
    decode_field, decode_json, json_to_value,
};

/// Asserts at compile time that a `#[sync(skip)]` field can be rebuilt from nothing.
pub fn assert_default<T: Default>() {}

/// Asserts at compile time that a `#[sync(json)]` field is a serde type.
pub fn assert_json<T: serde::Serialize + serde::de::DeserializeOwned>() {}
