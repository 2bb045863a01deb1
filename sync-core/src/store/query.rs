//! Queries by indexed columns: equality and ranges on the columns an entity marks
//! `#[sync(index)]` (and its id), ordered by one of them, limited. A [`Query`] is checked
//! against the entity's columns as it is built, so a query on a column without an index
//! is a clear error, never a full scan; [`Tables::query`](super::sqlite::Tables::query)
//! runs it on a replica, and [`Query::matches`] tells whether a row fits its filters.
//!
//! ```
//! use sync_core::entity::{Column, Role, SqlType, Value};
//! use sync_core::store::query::Query;
//!
//! const COLUMNS: &[Column] = &[
//!     Column { name: "id", field: "id", sql_type: SqlType::Text, nullable: false,
//!              role: Role::Id, indexed: false, default: None },
//!     Column { name: "group_id", field: "group_id", sql_type: SqlType::Text, nullable: false,
//!              role: Role::Data, indexed: true, default: None },
//!     Column { name: "balance", field: "balance", sql_type: SqlType::Double, nullable: false,
//!              role: Role::Data, indexed: true, default: None },
//!     Column { name: "name", field: "name", sql_type: SqlType::Text, nullable: false,
//!              role: Role::Data, indexed: false, default: None },
//! ];
//!
//! let query = Query::new("Account", COLUMNS).eq("group_id", "g1").range("balance", 0.0..100.0);
//! let row = |group: &str, balance: f64| {
//!     vec![Value::from("a1"), Value::from(group), Value::from(balance), Value::from("Giro")]
//! };
//! assert_eq!(query.check(), Ok(()));
//! assert_eq!(query.matches(&row("g1", 10.0)), Some(true));
//! assert_eq!(query.matches(&row("g1", 100.0)), Some(false));
//! assert_eq!(query.matches(&row("g2", 10.0)), Some(false));
//!
//! let error = Query::new("Account", COLUMNS).eq("name", "Giro").check().unwrap_err();
//! assert_eq!(error.to_string(), "Account.name has no index: mark the field #[sync(index)] to query by it");
//! ```

use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};

use crate::entity::{Column, Role, SqlType, Value};

/// How one filter compares a column with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal (`IS`: a `Null` value matches NULL).
    Eq,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "IS",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// One filter: the column at `column` (its position in the entity's columns) against
/// `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The column's position.
    pub column: usize,
    /// The comparison.
    pub op: Op,
    /// The value compared with.
    pub value: Value,
}

/// A query that does not fit the entity's columns; [`Query::check`] returns the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entity}.{column} {detail}")]
pub struct Error {
    /// The entity's wire name.
    pub entity: &'static str,
    /// The column as the query named it.
    pub column: String,
    /// What is wrong.
    pub detail: String,
}

/// Live rows of one entity whose indexed columns satisfy every filter, ordered by one
/// indexed column (then the id), at most `limit` of them.
#[derive(Debug, Clone)]
pub struct Query {
    entity: &'static str,
    columns: &'static [Column],
    filters: Vec<Filter>,
    order: Option<(usize, bool)>,
    limit: Option<usize>,
    error: Option<Error>,
}

impl Query {
    /// Every live row of `entity`, whose columns are `columns`, ordered by id.
    pub fn new(entity: &'static str, columns: &'static [Column]) -> Query {
        Query {
            entity,
            columns,
            filters: Vec::new(),
            order: None,
            limit: None,
            error: None,
        }
    }

    /// Keeps rows whose `column` (the field or the SQL column name) equals `value`.
    #[must_use]
    pub fn eq(self, column: &str, value: impl Into<Value>) -> Query {
        self.filter(column, Op::Eq, value.into())
    }

    /// Keeps rows whose `column` lies in `range` (`a..b`, `a..=b`, `a..`, `..b`).
    #[must_use]
    pub fn range<V: Into<Value> + Clone>(
        mut self,
        column: &str,
        range: impl RangeBounds<V>,
    ) -> Query {
        match range.start_bound().cloned() {
            Bound::Included(low) => self = self.filter(column, Op::Ge, low.into()),
            Bound::Excluded(low) => self = self.filter(column, Op::Gt, low.into()),
            Bound::Unbounded => {}
        }
        match range.end_bound().cloned() {
            Bound::Included(high) => self = self.filter(column, Op::Le, high.into()),
            Bound::Excluded(high) => self = self.filter(column, Op::Lt, high.into()),
            Bound::Unbounded => {}
        }
        if let Err(error) = self.resolve(column) {
            self = self.fail(error);
        }
        self
    }

    /// Orders the rows by `column`, ascending (`descending`: the other way), then by id.
    #[must_use]
    pub fn order_by(mut self, column: &str, descending: bool) -> Query {
        match self.resolve(column) {
            Ok(position) => {
                self.order = Some((position, descending));
                self
            }
            Err(error) => self.fail(error),
        }
    }

    /// Returns at most `limit` rows.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Query {
        self.limit = Some(limit);
        self
    }

    /// The entity's wire name.
    pub fn entity(&self) -> &'static str {
        self.entity
    }

    /// The filters, in the order given.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// The ordering column's position and whether it is descending.
    pub fn order(&self) -> Option<(usize, bool)> {
        self.order
    }

    /// The limit, if any.
    pub fn limit_rows(&self) -> Option<usize> {
        self.limit
    }

    /// The columns the query is over.
    pub fn columns(&self) -> &'static [Column] {
        self.columns
    }

    /// The first mistake in the query: a column that does not exist, has no index, or a
    /// value that does not fit the column.
    pub fn check(&self) -> Result<(), Error> {
        self.error.clone().map_or(Ok(()), Err)
    }

    /// Whether `row` (the entity's [`to_row`](crate::Syncable::to_row)) satisfies every
    /// filter; `None` when a value does not compare with the column's (the store decides).
    pub fn matches(&self, row: &[Value]) -> Option<bool> {
        let mut matched = true;
        for filter in &self.filters {
            let ordering = row.get(filter.column)?.compare(&filter.value)?;
            matched &= match filter.op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Gt => ordering == Ordering::Greater,
                Op::Ge => ordering != Ordering::Less,
                Op::Lt => ordering == Ordering::Less,
                Op::Le => ordering != Ordering::Greater,
            };
        }
        Some(matched)
    }

    /// The `WHERE … ORDER BY … LIMIT` clauses after `WHERE <live>` for SQLite: `AND "c" op ?`
    /// per filter (bound in [`filters`](Self::filters) order), the order, and the limit.
    pub(crate) fn sqlite_clauses(&self) -> String {
        let id = self
            .columns
            .iter()
            .position(|column| column.role == Role::Id)
            .unwrap_or(0);
        let mut text = String::new();
        for filter in &self.filters {
            let name = self.columns[filter.column].name;
            text.push_str(&format!(" AND \"{name}\" {} ?", filter.op.sql()));
        }
        let id_name = self.columns[id].name;
        match self.order {
            Some((position, descending)) if position != id => {
                let direction = if descending { "DESC" } else { "ASC" };
                let name = self.columns[position].name;
                text.push_str(&format!(
                    " ORDER BY \"{name}\" {direction}, \"{id_name}\" {direction}"
                ));
            }
            Some((_, true)) => text.push_str(&format!(" ORDER BY \"{id_name}\" DESC")),
            _ => text.push_str(&format!(" ORDER BY \"{id_name}\" ASC")),
        }
        if let Some(limit) = self.limit {
            text.push_str(&format!(
                " LIMIT {}",
                i64::try_from(limit).unwrap_or(i64::MAX)
            ));
        }
        text
    }

    fn filter(mut self, column: &str, op: Op, value: Value) -> Query {
        let position = match self.resolve(column) {
            Ok(position) => position,
            Err(error) => return self.fail(error),
        };
        match fit(self.columns[position].sql_type, op, value) {
            Ok(value) => {
                self.filters.push(Filter {
                    column: position,
                    op,
                    value,
                });
                self
            }
            Err(detail) => {
                let error = self.error_at(column, detail);
                self.fail(error)
            }
        }
    }

    /// The position of the queryable column named `name` (field or SQL name).
    fn resolve(&self, name: &str) -> Result<usize, Error> {
        let Some(position) = self
            .columns
            .iter()
            .position(|column| column.field == name || column.name == name)
        else {
            return Err(self.error_at(name, "is not a column of the entity".to_owned()));
        };
        let column = &self.columns[position];
        if column.indexed || column.role == Role::Id {
            Ok(position)
        } else {
            Err(self.error_at(
                name,
                "has no index: mark the field #[sync(index)] to query by it".to_owned(),
            ))
        }
    }

    fn error_at(&self, column: &str, detail: String) -> Error {
        Error {
            entity: self.entity,
            column: column.to_owned(),
            detail,
        }
    }

    fn fail(mut self, error: Error) -> Query {
        self.error.get_or_insert(error);
        self
    }
}

/// `value` in the form the column stores, or why it does not fit.
fn fit(sql_type: SqlType, op: Op, value: Value) -> Result<Value, String> {
    let found = value.kind();
    match (sql_type, value) {
        (_, Value::Null) if op == Op::Eq => Ok(Value::Null),
        (_, Value::Null) => Err("a range bound cannot be null".to_owned()),
        (SqlType::Json, _) => Err("is a JSON column: it cannot be queried".to_owned()),
        (SqlType::Bool, value @ Value::Bool(_))
        | (SqlType::SmallInt | SqlType::Int | SqlType::BigInt, value @ Value::Int(_))
        | (SqlType::Real | SqlType::Double, value @ (Value::Real(_) | Value::Int(_)))
        | (SqlType::Text, value @ Value::Text(_))
        | (SqlType::Uuid, value @ Value::Uuid(_))
        | (SqlType::Timestamp, value @ Value::Timestamp(_))
        | (SqlType::Date, value @ Value::Date(_)) => Ok(value),
        (SqlType::Uuid, Value::Text(text)) => uuid::Uuid::parse_str(&text)
            .map(Value::Uuid)
            .map_err(|error| format!("expects a UUID: {error}")),
        (sql_type, _) => Err(format!("is {sql_type:?}, not {found}")),
    }
}
