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
