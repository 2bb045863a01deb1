//! Values to PostgreSQL and back: the one place that knows how each [`SqlType`] is stored.
//!
//! A batch binds one typed array per column (`text[]`, `bigint[]`, `float8[]`, `boolean[]`,
//! `uuid[]`, `timestamptz[]`, `date[]`, `jsonb[]`; smaller integer and float columns are cast
//! from the wider arrays), so one `UNNEST` statement writes the whole batch. Timestamps are
//! truncated to milliseconds like SQLite's text form, so both stores hold the same instants.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde_json::Value as Json;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use uuid::Uuid;

use crate::entity::{Column, SqlType, Value};

pub(super) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// The array type a column's values are bound as, cast to the column's own type.
pub(super) fn array_cast(sql_type: SqlType) -> &'static str {
    match sql_type {
        SqlType::Text => "text[]",
        SqlType::Bool => "boolean[]",
        SqlType::SmallInt => "bigint[]::smallint[]",
        SqlType::Int => "bigint[]::integer[]",
        SqlType::BigInt => "bigint[]",
        SqlType::Real => "float8[]::real[]",
        SqlType::Double => "float8[]",
        SqlType::Uuid => "uuid[]",
        SqlType::Timestamp => "timestamptz[]",
        SqlType::Date => "date[]",
        SqlType::Json => "text[]::jsonb[]",
    }
}

/// The values of one column across a batch, typed for binding as one array.
pub(super) enum ColumnArray {
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Uuid(Vec<Option<Uuid>>),
    Timestamp(Vec<Option<DateTime<Utc>>>),
    Date(Vec<Option<NaiveDate>>),
}

impl ColumnArray {
    pub(super) fn new(sql_type: SqlType, capacity: usize) -> ColumnArray {
        match sql_type {
            SqlType::Text | SqlType::Json => ColumnArray::Text(Vec::with_capacity(capacity)),
            SqlType::Bool => ColumnArray::Bool(Vec::with_capacity(capacity)),
            SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
                ColumnArray::Int(Vec::with_capacity(capacity))
            }
            SqlType::Real | SqlType::Double => ColumnArray::Real(Vec::with_capacity(capacity)),
            SqlType::Uuid => ColumnArray::Uuid(Vec::with_capacity(capacity)),
            SqlType::Timestamp => ColumnArray::Timestamp(Vec::with_capacity(capacity)),
            SqlType::Date => ColumnArray::Date(Vec::with_capacity(capacity)),
        }
    }

    /// Appends `value`. A value that does not fit the column was refused by [`fits`]
    /// before the batch was decided; it cannot reach here, and would be bound as NULL.
    pub(super) fn push(&mut self, value: &Value) {
        match self {
            ColumnArray::Text(values) => values.push(text(value)),
            ColumnArray::Bool(values) => values.push(match value {
                Value::Bool(flag) => Some(*flag),
                Value::Int(number) => Some(*number != 0),
                _ => None,
            }),
            ColumnArray::Int(values) => values.push(match value {
                Value::Int(number) => Some(*number),
                _ => None,
            }),
            ColumnArray::Real(values) => values.push(match value {
                Value::Real(number) => Some(*number),
                #[allow(clippy::cast_precision_loss, reason = "as SQLite's REAL affinity does")]
                Value::Int(number) => Some(*number as f64),
                _ => None,
            }),
            ColumnArray::Uuid(values) => values.push(uuid(value)),
            ColumnArray::Timestamp(values) => values.push(timestamp(value)),
            ColumnArray::Date(values) => values.push(date(value)),
        }
    }

    pub(super) fn bind(self, query: PgQuery<'_>) -> PgQuery<'_> {
        match self {
            ColumnArray::Text(values) => query.bind(values),
            ColumnArray::Bool(values) => query.bind(values),
            ColumnArray::Int(values) => query.bind(values),
            ColumnArray::Real(values) => query.bind(values),
            ColumnArray::Uuid(values) => query.bind(values),
            ColumnArray::Timestamp(values) => query.bind(values),
            ColumnArray::Date(values) => query.bind(values),
        }
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Text(text) => Some(text.clone()),
        Value::Json(json) => Some(json.to_string()),
        _ => None,
    }
}

fn uuid(value: &Value) -> Option<Uuid> {
    match value {
        Value::Uuid(uuid) => Some(*uuid),
        Value::Text(text) => Uuid::parse_str(text).ok(),
        _ => None,
    }
}

fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Timestamp(at) => Some(at.trunc_subsecs(3)),
        Value::Text(text) => crate::version::Version::parse(text)
            .ok()
            .map(crate::version::Version::to_datetime),
        _ => None,
    }
}

fn date(value: &Value) -> Option<NaiveDate> {
    match value {
        Value::Date(date) => Some(*date),
        Value::Text(text) => text.parse().ok(),
        _ => None,
    }
}

/// Whether `value` can be stored in `column`: of the column's type, and free of the NUL
/// character, which PostgreSQL's `text` and `jsonb` cannot hold.
pub(super) fn fits(column: &Column, value: &Value) -> Result<(), String> {
    let fits = match (column.sql_type, value) {
        (_, Value::Null) => true,
        (SqlType::Text, Value::Text(text)) => !text.contains('\0'),
        (SqlType::Json, Value::Json(json)) => !json_has_nul(json),
        (SqlType::Json, Value::Text(text)) => {
            serde_json::from_str::<Json>(text).is_ok_and(|json| !json_has_nul(&json))
        }
        (SqlType::Bool, Value::Bool(_) | Value::Int(_))
        | (SqlType::SmallInt | SqlType::Int | SqlType::BigInt, Value::Int(_))
        | (SqlType::Real | SqlType::Double, Value::Real(_) | Value::Int(_)) => true,
        (SqlType::Uuid, value) => uuid(value).is_some(),
        (SqlType::Timestamp, value) => timestamp(value).is_some(),
        (SqlType::Date, value) => date(value).is_some(),
        _ => false,
    };
    if fits {
        Ok(())
    } else if matches!(value, Value::Text(_) | Value::Json(_)) {
        Err(format!(
            "{}: holds a NUL character or is not a {}, which PostgreSQL cannot store",
            column.field,
            column.sql_type.name()
        ))
    } else {
        Err(format!(
            "{}: a {} does not fit a {} column",
            column.field,
            value.kind(),
            column.sql_type.name()
        ))
    }
}

/// Whether an entity id can be a key of an id column of this type.
pub(super) fn id_fits(sql_type: SqlType, id: &str) -> bool {
    match sql_type {
        SqlType::Uuid => Uuid::parse_str(id).is_ok(),
        SqlType::SmallInt | SqlType::Int | SqlType::BigInt => id.parse::<i64>().is_ok(),
        _ => !id.contains('\0'),
    }
}

fn json_has_nul(json: &Json) -> bool {
    match json {
        Json::String(text) => text.contains('\0'),
        Json::Array(items) => items.iter().any(json_has_nul),
        Json::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value)),
        _ => false,
    }
}

/// Reads the column at `index` of `row` as a [`Value`] of the column's type.
pub(super) fn read_value(row: &PgRow, index: usize, column: &Column) -> sqlx::Result<Value> {
    let value = match column.sql_type {
        SqlType::Text => row.try_get::<Option<String>, _>(index)?.map(Value::Text),
        SqlType::Bool => row.try_get::<Option<bool>, _>(index)?.map(Value::Bool),
        SqlType::SmallInt => row
            .try_get::<Option<i16>, _>(index)?
            .map(|number| Value::Int(i64::from(number))),
        SqlType::Int => row
            .try_get::<Option<i32>, _>(index)?
            .map(|number| Value::Int(i64::from(number))),
        SqlType::BigInt => row.try_get::<Option<i64>, _>(index)?.map(Value::Int),
        SqlType::Real => row
            .try_get::<Option<f32>, _>(index)?
            .map(|number| Value::Real(f64::from(number))),
        SqlType::Double => row.try_get::<Option<f64>, _>(index)?.map(Value::Real),
        SqlType::Uuid => row.try_get::<Option<Uuid>, _>(index)?.map(Value::Uuid),
        SqlType::Timestamp => row
            .try_get::<Option<DateTime<Utc>>, _>(index)?
            .map(Value::Timestamp),
        SqlType::Date => row.try_get::<Option<NaiveDate>, _>(index)?.map(Value::Date),
        SqlType::Json => row.try_get::<Option<Json>, _>(index)?.map(Value::Json),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// `"name"`: a quoted identifier. Names are checked by the registry, so quoting suffices.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// A sequence number as PostgreSQL's `bigint`.
pub(super) fn as_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
