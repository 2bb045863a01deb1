//! The statements of one entity table, built once per store so each change only binds.
//!
//! A batch's writes are multi-row statements, `INSERT … VALUES (…), (…) … ON CONFLICT DO
//! UPDATE`, one per table and kind of write (more only past SQLite's bound on parameters),
//! sent together with the processed-id records and the sequence number as one
//! multi-statement query: one round trip to the connection's thread for all the writes of a
//! batch. The text depends on the batch's shape, so it is prepared for each batch and not
//! cached (`persistent(false)`): parsing costs about a microsecond per row, and no large
//! statement stays in memory for each of the open tenants.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::bind::{SqliteQuery, as_i64, bind_value, quoted, read_value};
use crate::entity::{Handler, Role, Value};
use crate::error::{Error, Result};
use crate::outcome::Effect;
use crate::store::ddl::{DELETED, SEQ};
use crate::store::plan::{LiveRow, Tombstone};
use crate::version::Version;

/// SQLite's default bound on the parameters of one statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_PARAMETERS: usize = 32_766;

/// A multi-row write: `head`, then one `row` tuple per row, comma-separated, then `tail`.
pub(super) struct Chunked {
    head: String,
    row: String,
    tail: String,
    /// The most rows one statement may carry under SQLite's parameter bound.
    max_rows: usize,
    /// The statement for one row.
    single: String,
}

impl Chunked {
    /// The write whose rows bind `parameters` values each.
    pub(super) fn new(head: &str, row: &str, tail: &str, parameters: usize) -> Chunked {
        Chunked {
            head: head.to_owned(),
            row: row.to_owned(),
            tail: tail.to_owned(),
            max_rows: (MAX_PARAMETERS / parameters.max(1)).max(1),
            single: format!("{head}{row}{tail}"),
        }
    }

    /// The statement for one row.
    pub(super) fn single(&self) -> &str {
        &self.single
    }

    /// Appends the statements that write `rows` rows, in order, each under the parameter
    /// bound and ended by `;`. The caller binds every row's values in the same order.
    pub(super) fn push_statements(&self, rows: usize, out: &mut String) {
        let mut remaining = rows;
        while remaining > 0 {
            let count = remaining.min(self.max_rows);
            out.reserve(self.head.len() + self.tail.len() + count * (self.row.len() + 2) + 1);
            out.push_str(&self.head);
            for index in 0..count {
                if index > 0 {
                    out.push_str(", ");
                }
                out.push_str(&self.row);
            }
            out.push_str(&self.tail);
            out.push(';');
            remaining -= count;
        }
    }
}

/// The SQL of one entity table. Selects return the entity's columns, then the tombstone
/// flag, then the sequence number.
pub(super) struct TableSql {
    /// Live rows: the entity's columns, then the sequence number.
    pub(super) upsert: Chunked,
    /// Tombstones: the id, the version, then the sequence number.
    pub(super) delete: Chunked,
    /// The stored rows of the ids in a JSON array parameter.
    pub(super) rows: String,
    pub(super) row: String,
    pub(super) feed: String,
    pub(super) snapshot: String,
    pub(super) id_position: usize,
    pub(super) version_position: usize,
}

impl TableSql {
    pub(super) fn new(handler: &dyn Handler) -> TableSql {
        let table = quoted(handler.table());
        let columns = handler.columns();
        let names: Vec<String> = columns.iter().map(|column| quoted(column.name)).collect();
        let id = quoted(columns[handler.position(Role::Id)].name);
        let version = quoted(columns[handler.position(Role::UpdatedAt)].name);
        let list = names.join(", ");
        let placeholders = vec!["?"; names.len()].join(", ");
        let updates: Vec<String> = names
            .iter()
            .filter(|name| **name != id)
            .map(|name| format!("{name} = excluded.{name}"))
            .collect();
        let selected = format!("{list}, \"{DELETED}\", \"{SEQ}\"");
        TableSql {
            upsert: Chunked::new(
                &format!("INSERT INTO {table} ({list}, \"{DELETED}\", \"{SEQ}\") VALUES "),
                &format!("({placeholders}, 0, ?)"),
                &format!(
                    " ON CONFLICT ({id}) DO UPDATE SET {}, \"{DELETED}\" = 0, \"{SEQ}\" = excluded.\"{SEQ}\"",
                    updates.join(", ")
                ),
                names.len() + 1,
            ),
            delete: Chunked::new(
                &format!("INSERT INTO {table} ({id}, {version}, \"{DELETED}\", \"{SEQ}\") VALUES "),
                "(?, ?, 1, ?)",
                &format!(
                    " ON CONFLICT ({id}) DO UPDATE SET {version} = excluded.{version}, \
                     \"{DELETED}\" = 1, \"{SEQ}\" = excluded.\"{SEQ}\""
                ),
                3,
            ),
            rows: format!(
                "SELECT {selected} FROM {table} WHERE {id} IN (SELECT value FROM json_each(?))"
            ),
            row: format!("SELECT {selected} FROM {table} WHERE {id} = ?"),
            feed: format!(
                "SELECT {selected} FROM {table} WHERE \"{SEQ}\" > ? ORDER BY \"{SEQ}\" LIMIT ?"
            ),
            snapshot: format!(
                "SELECT {selected} FROM {table} WHERE \"{DELETED}\" = 0 ORDER BY {id}"
            ),
            id_position: handler.position(Role::Id),
            version_position: handler.position(Role::UpdatedAt),
        }
    }

    /// Writes `row` (in column order) as a live row at sequence number `seq`.
    pub(super) async fn upsert(
        &self,
        connection: &mut SqliteConnection,
        row: &[Value],
        seq: u64,
    ) -> Result<()> {
        let mut query = sqlx::query(self.upsert.single());
        for value in row {
            query = bind_value(query, value);
        }
        query.bind(as_i64(seq)).execute(&mut *connection).await?;
        Ok(())
    }

    /// Binds the values of `rows` (live rows, each at its sequence number) for the
    /// statements [`Chunked::push_statements`] wrote for them with `self.upsert`.
    pub(super) fn bind_live<'q>(
        &self,
        mut query: SqliteQuery<'q>,
        rows: &'q [LiveRow],
    ) -> SqliteQuery<'q> {
        for live in rows {
            for value in &live.row {
                query = bind_value(query, value);
            }
            query = query.bind(as_i64(live.seq));
        }
        query
    }

    /// Binds the values of `tombstones` for the statements written for them with
    /// `self.delete`.
    pub(super) fn bind_tombstones<'q>(
        &self,
        mut query: SqliteQuery<'q>,
        tombstones: &'q [Tombstone],
    ) -> SqliteQuery<'q> {
        for tombstone in tombstones {
            query = query
                .bind(tombstone.entity_id.as_str())
                .bind(tombstone.version.to_string())
                .bind(as_i64(tombstone.seq));
        }
        query
    }

    /// Marks `entity_id` deleted at `version`, keeping (or creating) its row as a tombstone.
    pub(super) async fn mark_deleted(
        &self,
        connection: &mut SqliteConnection,
        entity_id: &str,
        version: Version,
        seq: u64,
    ) -> Result<()> {
        sqlx::query(self.delete.single())
            .bind(entity_id)
            .bind(version.to_string())
            .bind(as_i64(seq))
            .execute(&mut *connection)
            .await?;
        Ok(())
    }

    /// The stored state of one entity, live or tombstone.
    pub(super) async fn load(
        &self,
        handler: &dyn Handler,
        connection: &mut SqliteConnection,
        entity_id: &str,
    ) -> Result<Option<Effect>> {
        let row = sqlx::query(&self.row)
            .bind(entity_id)
            .fetch_optional(&mut *connection)
            .await?;
        row.map(|row| self.effect(handler, &row)).transpose()
    }

    /// Every live row, ordered by id.
    pub(super) async fn live(
        &self,
        handler: &dyn Handler,
        connection: &mut SqliteConnection,
    ) -> Result<Vec<Effect>> {
        let rows = sqlx::query(&self.snapshot)
            .fetch_all(&mut *connection)
            .await?;
        rows.iter().map(|row| self.effect(handler, row)).collect()
    }

    /// Decodes a row selected by `row`, `feed` or `snapshot` into the entity's state.
    pub(super) fn effect(&self, handler: &dyn Handler, row: &SqliteRow) -> Result<Effect> {
        let columns = handler.columns();
        let mut values = Vec::with_capacity(columns.len());
        for (index, column) in columns.iter().enumerate() {
            values.push(read_value(row, index, column)?);
        }
        let deleted: bool = row.try_get(columns.len())?;
        let seq: i64 = row.try_get(columns.len() + 1)?;
        let entity_id = match &values[self.id_position] {
            Value::Text(text) => text.clone(),
            Value::Int(number) => number.to_string(),
            other => format!("{other:?}"),
        };
        let decode_error = |message: String| Error::Decode {
            table: handler.table(),
            id: entity_id.clone(),
            source: crate::entity::DecodeError::new(columns[self.version_position].name, message),
        };
        let version = match &values[self.version_position] {
            Value::Text(text) => {
                Version::parse(text).map_err(|error| decode_error(error.to_string()))?
            }
            other => {
                return Err(decode_error(format!(
                    "expected a timestamp, found {}",
                    other.kind()
                )));
            }
        };
        let data = if deleted {
            handler.tombstone_json(&entity_id, version)
        } else {
            handler
                .row_to_json(values)
                .map_err(|source| Error::Decode {
                    table: handler.table(),
                    id: entity_id.clone(),
                    source,
                })?
        };
        Ok(Effect {
            entity_type: handler.entity(),
            collection: handler.collection(),
            entity_id,
            deleted,
            version,
            seq: u64::try_from(seq).unwrap_or_default(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_stay_under_the_parameter_bound() {
        let chunked = Chunked::new("INSERT INTO t (a, b) VALUES ", "(?, ?)", " ON CONFLICT", 2);
        assert_eq!(
            chunked.single(),
            "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT"
        );
        let mut text = String::new();
        chunked.push_statements(0, &mut text);
        assert_eq!(text, "");
        chunked.push_statements(2, &mut text);
        assert_eq!(
            text,
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT;"
        );

        for rows in [1, 16_383, 16_384, 40_000] {
            let mut text = String::new();
            chunked.push_statements(rows, &mut text);
            let statements: Vec<&str> = text.split_terminator(';').collect();
            assert_eq!(statements.len(), rows.div_ceil(16_383), "{rows} rows");
            assert_eq!(text.matches("(?, ?)").count(), rows);
            assert!(
                statements
                    .iter()
                    .all(|statement| statement.matches('?').count() <= MAX_PARAMETERS)
            );
        }
        let widest = Chunked::new("", "(?)", "", 40_000);
        assert_eq!(widest.max_rows, 1, "at least one row per statement");
    }
}
