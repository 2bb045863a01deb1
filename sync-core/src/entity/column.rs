//! Column metadata and the dialect-neutral values that travel between entities and stores.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// The SQL type of a stored column; each store maps it to its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// `String`.
    Text,
    /// `bool`.
    Bool,
    /// `i16`.
    SmallInt,
    /// `i32`.
    Int,
    /// `i64`.
    BigInt,
    /// `f32`.
    Real,
    /// `f64`.
    Double,
    /// `uuid::Uuid`.
    Uuid,
    /// `chrono::DateTime<Utc>`, stored with millisecond precision.
    Timestamp,
    /// `chrono::NaiveDate`.
    Date,
    /// Any serde type marked `#[sync(json)]`.
    Json,
}

impl SqlType {
    /// The SQLite column type, which also names its affinity.
    pub fn sqlite(self) -> &'static str {
        match self {
            SqlType::Bool | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => "INTEGER",
            SqlType::Real | SqlType::Double => "REAL",
            SqlType::Text | SqlType::Uuid | SqlType::Timestamp | SqlType::Date | SqlType::Json => {
                "TEXT"
            }
        }
    }

    /// The PostgreSQL column type.
    pub fn postgres(self) -> &'static str {
        match self {
            SqlType::Text => "TEXT",
            SqlType::Bool => "BOOLEAN",
            SqlType::SmallInt => "SMALLINT",
            SqlType::Int => "INTEGER",
            SqlType::BigInt => "BIGINT",
            SqlType::Real => "REAL",
            SqlType::Double => "DOUBLE PRECISION",
            SqlType::Uuid => "UUID",
            SqlType::Timestamp => "TIMESTAMPTZ(3)",
            SqlType::Date => "DATE",
            SqlType::Json => "JSONB",
        }
    }

    /// A stable name for the schema record, independent of dialect.
    pub fn name(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::Bool => "bool",
            SqlType::SmallInt => "smallint",
            SqlType::Int => "int",
            SqlType::BigInt => "bigint",
            SqlType::Real => "real",
            SqlType::Double => "double",
            SqlType::Uuid => "uuid",
            SqlType::Timestamp => "timestamp",
            SqlType::Date => "date",
            SqlType::Json => "json",
        }
    }
}

/// What a column means to the sync machinery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The entity's id: the primary key.
    Id,
    /// The entity's version: its `updated_at`.
    UpdatedAt,
    /// Any other stored field.
    Data,
}

/// One stored column of an entity, as `#[derive(Syncable)]` describes it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The SQL column name.
    pub name: &'static str,
    /// The Rust field it stores.
    pub field: &'static str,
    /// Its SQL type.
    pub sql_type: SqlType,
    /// Whether a live row may hold NULL here (the field is an `Option`).
    pub nullable: bool,
    /// Its role in syncing.
    pub role: Role,
    /// Whether the store keeps an index on it (`#[sync(index)]`).
    pub indexed: bool,
    /// The value that fills this column in existing rows when it is added later
    /// (`#[sync(default)]`).
    pub default: Option<fn() -> Value>,
}

/// A dialect-neutral column value. Stores bind and read these; entities encode to them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer column.
    Int(i64),
    /// Any floating-point column.
    Real(f64),
    /// Text.
    Text(String),
    /// A UUID.
    Uuid(Uuid),
    /// An instant, millisecond precision.
    Timestamp(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A JSON document (`#[sync(json)]` fields).
    Json(serde_json::Value),
}

impl Value {
    /// A short name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Uuid(_) => "uuid",
            Value::Timestamp(_) => "timestamp",
            Value::Date(_) => "date",
            Value::Json(_) => "json",
        }
    }
}

/// Values from plain Rust values, e.g. for the client's queries: `"Giro".into()`.
macro_rules! value_from {
    ($($ty:ty => $variant:ident($convert:expr)),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(value: $ty) -> Value {
                Value::$variant($convert(value))
            }
        })*
    };
}

value_from! {
    bool => Bool(|value| value),
    i16 => Int(i64::from),
    i32 => Int(i64::from),
    i64 => Int(|value| value),
    f32 => Real(f64::from),
    f64 => Real(|value| value),
    String => Text(|value| value),
    &str => Text(str::to_owned),
    Uuid => Uuid(|value| value),
    DateTime<Utc> => Timestamp(|value| value),
    NaiveDate => Date(|value| value),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// Compares two values of one column: numbers with numbers (integers and reals alike),
    /// texts, instants, dates, UUIDs and booleans among themselves, and `Null` before
    /// everything. `None` for values that do not compare (different kinds, JSON, NaN).
    pub fn compare(&self, other: &Value) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering;
        match (self, other) {
            (Value::Null, Value::Null) => Some(Ordering::Equal),
            (Value::Null, _) => Some(Ordering::Less),
            (_, Value::Null) => Some(Ordering::Greater),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            #[allow(
                clippy::cast_precision_loss,
                reason = "comparing an integer with a real"
            )]
            (Value::Int(a), Value::Real(b)) => (*a as f64).partial_cmp(b),
            #[allow(
                clippy::cast_precision_loss,
                reason = "comparing a real with an integer"
            )]
            (Value::Real(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Real(a), Value::Real(b)) => a.partial_cmp(b),
            (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
            (Value::Uuid(a), Value::Uuid(b)) => Some(a.cmp(b)),
            (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod compare_tests {
    use std::cmp::Ordering;

    use super::Value;

    #[test]
    fn values_compare_within_their_kind() {
        assert_eq!(
            Value::from(2).compare(&Value::from(2.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::from("b").compare(&"a".into()),
            Some(Ordering::Greater)
        );
        assert_eq!(Value::Null.compare(&Value::from(0)), Some(Ordering::Less));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::from("a").compare(&Value::from(1)), None);
        assert_eq!(Value::from(f64::NAN).compare(&Value::from(1.0)), None);
    }
}
