//! The field types an entity may store, and how each becomes a [`Value`].
//!
//! `#[derive(Syncable)]` calls these traits on every field; a field of another type is a
//! compile error at that field, with a hint to mark it `#[sync(json)]`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::DecodeError;
use super::column::{SqlType, Value};

/// A type that is stored in one column and is never NULL.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a column",
    label = "unsupported field type",
    note = "supported: String, bool, i16, i32, i64, f32, f64, uuid::Uuid, chrono::DateTime<Utc>, chrono::NaiveDate, and Option of these",
    note = "to store any serde type as JSON, mark the field `#[sync(json)]`"
)]
pub trait Scalar: Sized {
    /// The column's SQL type.
    const SQL_TYPE: SqlType;
    /// Encodes the value.
    fn to_scalar(&self) -> Value;
    /// Decodes a non-NULL value.
    fn from_scalar(value: Value) -> Result<Self, String>;
}

/// A stored field: a [`Scalar`] or an `Option` of one (which may be NULL).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a column",
    label = "unsupported field type",
    note = "supported: String, bool, i16, i32, i64, f32, f64, uuid::Uuid, chrono::DateTime<Utc>, chrono::NaiveDate, and Option of these",
    note = "to store any serde type as JSON, mark the field `#[sync(json)]`"
)]
pub trait Field: Sized {
    /// The column's SQL type.
    const SQL_TYPE: SqlType;
    /// Whether the column may hold NULL.
    const NULLABLE: bool;
    /// Encodes the value.
    fn to_value(&self) -> Value;
    /// Decodes the value.
    fn from_value(value: Value) -> Result<Self, String>;
}

impl<T: Scalar> Field for T {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = false;

    fn to_value(&self) -> Value {
        self.to_scalar()
    }

    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Err("unexpected NULL".to_owned()),
            value => T::from_scalar(value),
        }
    }
}

impl<T: Scalar> Field for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;

    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Scalar::to_scalar)
    }

    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            value => T::from_scalar(value).map(Some),
        }
    }
}

fn mismatch(expected: &str, found: &Value) -> String {
    format!("expected {expected}, found {}", found.kind())
}

impl Scalar for String {
    const SQL_TYPE: SqlType = SqlType::Text;

    fn to_scalar(&self) -> Value {
        Value::Text(self.clone())
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text),
            other => Err(mismatch("text", &other)),
        }
    }
}

impl Scalar for bool {
    const SQL_TYPE: SqlType = SqlType::Bool;

    fn to_scalar(&self) -> Value {
        Value::Bool(*self)
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        match value {
            Value::Bool(flag) => Ok(flag),
            Value::Int(number) => Ok(number != 0),
            other => Err(mismatch("bool", &other)),
        }
    }
}

macro_rules! integer_scalar {
    ($($ty:ty => $sql:ident),* $(,)?) => {$(
        impl Scalar for $ty {
            const SQL_TYPE: SqlType = SqlType::$sql;

            fn to_scalar(&self) -> Value {
                Value::Int(i64::from(*self))
            }

            fn from_scalar(value: Value) -> Result<Self, String> {
                match value {
                    Value::Int(number) => <$ty>::try_from(number)
                        .map_err(|_| format!("{number} does not fit in {}", stringify!($ty))),
                    other => Err(mismatch("integer", &other)),
                }
            }
        }
    )*};
}

integer_scalar!(i16 => SmallInt, i32 => Int, i64 => BigInt);

impl Scalar for f64 {
    const SQL_TYPE: SqlType = SqlType::Double;

    fn to_scalar(&self) -> Value {
        Value::Real(*self)
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        match value {
            Value::Real(number) => Ok(number),
            #[allow(
                clippy::cast_precision_loss,
                reason = "SQLite may return whole reals as integers"
            )]
            Value::Int(number) => Ok(number as f64),
            other => Err(mismatch("real", &other)),
        }
    }
}

impl Scalar for f32 {
    const SQL_TYPE: SqlType = SqlType::Real;

    fn to_scalar(&self) -> Value {
        Value::Real(f64::from(*self))
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the column was written from an f32"
        )]
        f64::from_scalar(value).map(|number| number as f32)
    }
}

impl Scalar for Uuid {
    const SQL_TYPE: SqlType = SqlType::Uuid;

    fn to_scalar(&self) -> Value {
        Value::Uuid(*self)
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        match value {
            Value::Uuid(uuid) => Ok(uuid),
            Value::Text(text) => Uuid::parse_str(&text).map_err(|error| error.to_string()),
            other => Err(mismatch("uuid", &other)),
        }
    }
}

impl Scalar for DateTime<Utc> {
    const SQL_TYPE: SqlType = SqlType::Timestamp;

    fn to_scalar(&self) -> Value {
        Value::Timestamp(*self)
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        match value {
            Value::Timestamp(at) => Ok(at),
            Value::Text(text) => crate::version::Version::parse(&text)
                .map(|version| version.to_datetime())
                .map_err(|error| error.to_string()),
            other => Err(mismatch("timestamp", &other)),
        }
    }
}

impl Scalar for NaiveDate {
    const SQL_TYPE: SqlType = SqlType::Date;

    fn to_scalar(&self) -> Value {
        Value::Date(*self)
    }

    fn from_scalar(value: Value) -> Result<Self, String> {
        match value {
            Value::Date(date) => Ok(date),
            Value::Text(text) => text
                .parse()
                .map_err(|error: chrono::ParseError| error.to_string()),
            other => Err(mismatch("date", &other)),
        }
    }
}

/// Encodes a `#[sync(json)]` field.
pub fn json_to_value<T: Serialize>(field: &T) -> Value {
    // Serialising plain data to a `serde_json::Value` fails only for maps with non-string
    // keys; NULL keeps such a row decodable as the field's error instead of panicking.
    serde_json::to_value(field).map_or(Value::Null, Value::Json)
}

/// Decodes a `#[sync(json)]` field.
pub fn json_from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    match value {
        Value::Json(json) => serde_json::from_value(json).map_err(|error| error.to_string()),
        Value::Text(text) => serde_json::from_str(&text).map_err(|error| error.to_string()),
        Value::Null => {
            serde_json::from_value(serde_json::Value::Null).map_err(|error| error.to_string())
        }
        other => Err(mismatch("json", &other)),
    }
}

/// A type that can be an entity's `#[sync(id)]`: its wire form is a string.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an entity id",
    label = "unsupported id type",
    note = "an id is a `String`, a `uuid::Uuid` or an `i64`, and never an `Option`"
)]
pub trait IdField: Field {
    /// The id as the string the wire and the store use.
    fn to_id(&self) -> String;
}

impl IdField for String {
    fn to_id(&self) -> String {
        self.clone()
    }
}

impl IdField for Uuid {
    fn to_id(&self) -> String {
        self.hyphenated().to_string()
    }
}

impl IdField for i64 {
    fn to_id(&self) -> String {
        self.to_string()
    }
}

/// A type that can be an entity's `#[sync(updated_at)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an entity's `updated_at`",
    label = "unsupported updated_at type",
    note = "`updated_at` is a `chrono::DateTime<chrono::Utc>` or an `Option` of one"
)]
pub trait UpdatedAtField: Field {
    /// The stored instant, if any.
    fn get(&self) -> Option<DateTime<Utc>>;
    /// Replaces the instant.
    fn set(&mut self, at: DateTime<Utc>);
}

impl UpdatedAtField for DateTime<Utc> {
    fn get(&self) -> Option<DateTime<Utc>> {
        Some(*self)
    }

    fn set(&mut self, at: DateTime<Utc>) {
        *self = at;
    }
}

impl UpdatedAtField for Option<DateTime<Utc>> {
    fn get(&self) -> Option<DateTime<Utc>> {
        *self
    }

    fn set(&mut self, at: DateTime<Utc>) {
        *self = Some(at);
    }
}

/// Takes the next column of a row being decoded, naming the column in any error.
pub fn next_column(
    values: &mut std::vec::IntoIter<Value>,
    column: &'static str,
) -> Result<Value, DecodeError> {
    values
        .next()
        .ok_or_else(|| DecodeError::new(column, "the row has too few columns"))
}

/// Decodes the next column as a [`Field`].
pub fn decode_field<T: Field>(
    values: &mut std::vec::IntoIter<Value>,
    column: &'static str,
) -> Result<T, DecodeError> {
    T::from_value(next_column(values, column)?).map_err(|message| DecodeError::new(column, message))
}

/// Decodes the next column as a `#[sync(json)]` field.
pub fn decode_json<T: DeserializeOwned>(
    values: &mut std::vec::IntoIter<Value>,
    column: &'static str,
) -> Result<T, DecodeError> {
    json_from_value(next_column(values, column)?)
        .map_err(|message| DecodeError::new(column, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Field + PartialEq + std::fmt::Debug + Clone>(value: T) {
        assert_eq!(T::from_value(value.to_value()).unwrap(), value);
    }

    #[test]
    fn every_supported_type_round_trips() {
        round_trip("text".to_owned());
        round_trip(true);
        round_trip(-7_i16);
        round_trip(70_000_i32);
        round_trip(i64::MAX);
        round_trip(1.5_f32);
        round_trip(-2.25_f64);
        round_trip(Uuid::from_u128(42));
        round_trip(DateTime::from_timestamp_millis(1_700_000_000_123).unwrap());
        round_trip(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        round_trip(Some(3_i32));
        round_trip(None::<String>);
    }

    #[test]
    fn null_is_an_error_for_required_fields() {
        assert_eq!(
            String::from_value(Value::Null).unwrap_err(),
            "unexpected NULL"
        );
        assert_eq!(Option::<String>::from_value(Value::Null).unwrap(), None);
    }

    #[test]
    fn out_of_range_integers_are_errors() {
        assert!(
            i16::from_value(Value::Int(40_000))
                .unwrap_err()
                .contains("does not fit")
        );
    }

    #[test]
    fn stores_read_text_forms() {
        assert_eq!(bool::from_value(Value::Int(1)), Ok(true));
        assert_eq!(
            Uuid::from_value(Value::Text("00000000-0000-0000-0000-00000000002a".into())),
            Ok(Uuid::from_u128(42))
        );
        assert_eq!(
            NaiveDate::from_value(Value::Text("2026-02-28".into())),
            Ok(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())
        );
        let list: Vec<String> = json_from_value(Value::Text("[\"a\"]".into())).unwrap();
        assert_eq!(list, ["a"]);
    }
}
