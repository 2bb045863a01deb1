//! Values to SQLite and back: the one place that knows how each [`SqlType`] is stored.
//!
//! Text forms are canonical so that equal values compare equal in SQL: UUIDs hyphenated
//! lowercase, timestamps as RFC 3339 with milliseconds and `Z` (whose text order is their
//! time order), dates as `YYYY-MM-DD`, JSON compact.

use sqlx::Row;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};

use crate::entity::{Column, SqlType, Value};

pub(super) type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

/// Binds `value` as the next parameter of `query`; text is borrowed, not copied.
pub(super) fn bind_value<'q>(query: SqliteQuery<'q>, value: &'q Value) -> SqliteQuery<'q> {
    match value {
        Value::Null => query.bind(None::<String>),
        Value::Bool(flag) => query.bind(*flag),
        Value::Int(number) => query.bind(*number),
        Value::Real(number) => query.bind(*number),
        Value::Text(text) => query.bind(text.as_str()),
        Value::Uuid(uuid) => query.bind(uuid.hyphenated().to_string()),
        Value::Timestamp(at) => query.bind(timestamp_text(*at)),
        Value::Date(date) => query.bind(date.format("%Y-%m-%d").to_string()),
        Value::Json(json) => query.bind(json.to_string()),
    }
}

/// The canonical text of a timestamp column.
pub(super) fn timestamp_text(at: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    match crate::version::Version::try_from_datetime(at) {
        // A leap second (nanoseconds past 1e9) prints as `:60`, which only chrono does.
        Ok(version) if at.nanosecond() < 1_000_000_000 => version.canonical().as_str().to_owned(),
        _ => at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    }
}

/// Reads the column at `index` of `row` as a [`Value`] of the column's type.
pub(super) fn read_value(row: &SqliteRow, index: usize, column: &Column) -> sqlx::Result<Value> {
    let value = match column.sql_type {
        SqlType::Bool | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            row.try_get::<Option<i64>, _>(index)?.map(Value::Int)
        }
        SqlType::Real | SqlType::Double => row.try_get::<Option<f64>, _>(index)?.map(Value::Real),
        SqlType::Text | SqlType::Uuid | SqlType::Timestamp | SqlType::Date | SqlType::Json => {
            row.try_get::<Option<String>, _>(index)?.map(Value::Text)
        } // `SqlType` is non-exhaustive to users, not to this crate.
    };
    Ok(value.unwrap_or(Value::Null))
}

/// `"name"`: a quoted identifier. Names are checked by the registry, so quoting suffices.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// A sequence number as SQLite's signed integer.
pub(super) fn as_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// `value` as a parameter of the rusqlite write connection, in the same text forms as
/// [`bind_value`]; text is borrowed, not copied.
pub(super) fn to_sql(value: &Value) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};
    match value {
        Value::Null => ToSqlOutput::Owned(Owned::Null),
        Value::Bool(flag) => ToSqlOutput::Owned(Owned::Integer(i64::from(*flag))),
        Value::Int(number) => ToSqlOutput::Owned(Owned::Integer(*number)),
        Value::Real(number) => ToSqlOutput::Owned(Owned::Real(*number)),
        Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        Value::Uuid(uuid) => ToSqlOutput::Owned(Owned::Text(uuid.hyphenated().to_string())),
        Value::Timestamp(at) => ToSqlOutput::Owned(Owned::Text(timestamp_text(*at))),
        Value::Date(date) => ToSqlOutput::Owned(Owned::Text(date.format("%Y-%m-%d").to_string())),
        Value::Json(json) => ToSqlOutput::Owned(Owned::Text(json.to_string())),
    }
}

/// Reads the column at `index` of a rusqlite `row` as a [`Value`] of the column's type,
/// as [`read_value`] does for sqlx.
pub(super) fn read_ref(
    row: &rusqlite::Row<'_>,
    index: usize,
    column: &Column,
) -> rusqlite::Result<Value> {
    use rusqlite::types::{FromSqlError, ValueRef};
    let stored = row.get_ref(index)?;
    let mismatch = || {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            stored.data_type(),
            Box::new(FromSqlError::InvalidType),
        )
    };
    Ok(match (column.sql_type, stored) {
        (_, ValueRef::Null) => Value::Null,
        (
            SqlType::Bool | SqlType::SmallInt | SqlType::Int | SqlType::BigInt,
            ValueRef::Integer(number),
        ) => Value::Int(number),
        (SqlType::Real | SqlType::Double, ValueRef::Real(number)) => Value::Real(number),
        // SQLite stores a whole REAL value as it was bound; an integer reads as its float.
        #[allow(clippy::cast_precision_loss, reason = "SQLite's own REAL affinity")]
        (SqlType::Real | SqlType::Double, ValueRef::Integer(number)) => Value::Real(number as f64),
        (
            SqlType::Text | SqlType::Uuid | SqlType::Timestamp | SqlType::Date | SqlType::Json,
            ValueRef::Text(text),
        ) => Value::Text(
            std::str::from_utf8(text)
                .map_err(|error| {
                    rusqlite::Error::FromSqlConversionFailure(
                        index,
                        rusqlite::types::Type::Text,
                        Box::new(error),
                    )
                })?
                .to_owned(),
        ),
        _ => return Err(mismatch()),
    })
}
