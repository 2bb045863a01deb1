//! The statements of one entity table, built once per store so each change only binds.
//!
//! Writes are multi-row statements: `INSERT … VALUES (…), (…) … ON CONFLICT DO UPDATE`
//! with up to [`MAX_ROWS`] rows. A batch is cut into full chunks and then the binary digits
//! of the remainder (a batch of 100 is 64 + 32 + 4 rows), so a table has at most seven
//! statement texts per kind of write, which stay prepared in the connection's statement
//! cache, and a batch of `n` rows takes about `n / 64 + 6` statements instead of `n`.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::bind::{as_i64, bind_value, quoted, read_value, to_sql};
use crate::entity::{Handler, Role, Value};
use crate::error::Result;
use crate::outcome::Effect;
use crate::store::ddl::{DELETED, SEQ};
use crate::store::plan::{LiveRow, Tombstone};
use crate::version::Version;

/// The most rows one write statement carries: a power of two.
pub(super) const MAX_ROWS: usize = 64;
/// SQLite's default bound on the parameters of one statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_PARAMETERS: usize = 32_766;

/// One multi-row statement per power of two of rows, up to a full chunk.
pub(super) struct Chunked {
    /// `texts[k]` writes `2^k` rows.
    texts: Vec<String>,
}

impl Chunked {
    /// `head` followed by `rows` copies of `row` (a parenthesised tuple), comma-separated,
    /// then `tail`; for each power of two of rows that fits [`MAX_ROWS`] and
    /// `parameters` per row under SQLite's bound.
    pub(super) fn new(head: &str, row: &str, tail: &str, parameters: usize) -> Chunked {
        let fit = (MAX_PARAMETERS / parameters.max(1)).clamp(1, MAX_ROWS);
        // The largest power of two not above `fit`.
        let max_rows = 1 << (usize::BITS - 1 - fit.leading_zeros());
        let texts = std::iter::successors(Some(1_usize), |rows| Some(rows * 2))
            .take_while(|rows| *rows <= max_rows)
            .map(|rows| {
                let mut text =
                    String::with_capacity(head.len() + tail.len() + rows * (row.len() + 2));
                text.push_str(head);
                for index in 0..rows {
                    if index > 0 {
                        text.push_str(", ");
                    }
                    text.push_str(row);
                }
                text.push_str(tail);
                text
            })
            .collect();
        Chunked { texts }
    }

    /// The statement for one row.
    pub(super) fn single(&self) -> &str {
        &self.texts[0]
    }

    /// Cuts `len` rows into chunks: as many full chunks as fit, then the remainder's binary
    /// digits, largest first. Yields (first row, rows, statement).
    pub(super) fn chunks(&self, len: usize) -> impl Iterator<Item = (usize, usize, &str)> {
        let full = 1_usize << (self.texts.len() - 1);
        let mut start = 0;
        std::iter::from_fn(move || {
            let remaining = len - start;
            if remaining == 0 {
                return None;
            }
            let rows = if remaining >= full {
                full
            } else {
                1 << (usize::BITS - 1 - remaining.leading_zeros())
            };
            let chunk = (
                start,
                rows,
                self.texts[rows.trailing_zeros() as usize].as_str(),
            );
            start += rows;
            Some(chunk)
        })
    }
}

/// The SQL of one entity table. Selects return the entity's columns, then the tombstone
/// flag, then the sequence number.
pub(super) struct TableSql {
    /// Live rows: the entity's columns, then the sequence number.
    pub(super) upsert: Chunked,
    /// Tombstones: the id, the version, then the sequence number.
    pub(super) delete: Chunked,
    /// The stored row of one id.
    pub(super) row: String,
    pub(super) feed: String,
    pub(super) snapshot: String,
    /// Live rows, before a query's clauses: `SELECT … WHERE <not deleted>`.
    pub(super) live: String,
    pub(super) id_position: usize,
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
            row: format!("SELECT {selected} FROM {table} WHERE {id} = ?"),
            feed: format!(
                "SELECT {selected} FROM {table} WHERE \"{SEQ}\" > ? ORDER BY \"{SEQ}\" LIMIT ?"
            ),
            snapshot: format!(
                "SELECT {selected} FROM {table} WHERE \"{DELETED}\" = 0 ORDER BY {id}"
            ),
            live: format!("SELECT {selected} FROM {table} WHERE \"{DELETED}\" = 0"),
            id_position: handler.position(Role::Id),
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

    /// Writes `rows` as live rows, each at its sequence number, in multi-row statements on
    /// the rusqlite write connection. Each id appears at most once (the planner's one write
    /// per entity).
    pub(super) fn write_live(
        &self,
        connection: &rusqlite::Connection,
        rows: &[LiveRow],
    ) -> Result<()> {
        for (start, count, text) in self.upsert.chunks(rows.len()) {
            let mut statement = connection.prepare_cached(text)?;
            let mut index = 1;
            for live in &rows[start..start + count] {
                for value in &live.row {
                    statement.raw_bind_parameter(index, to_sql(value))?;
                    index += 1;
                }
                statement.raw_bind_parameter(index, as_i64(live.seq))?;
                index += 1;
            }
            statement.raw_execute()?;
        }
        Ok(())
    }

    /// Writes `tombstones`, each at its version and sequence number, in multi-row
    /// statements on the rusqlite write connection. Each id appears at most once.
    pub(super) fn write_tombstones(
        &self,
        connection: &rusqlite::Connection,
        tombstones: &[Tombstone],
    ) -> Result<()> {
        for (start, count, text) in self.delete.chunks(tombstones.len()) {
            let mut statement = connection.prepare_cached(text)?;
            let mut index = 1;
            for tombstone in &tombstones[start..start + count] {
                let version = tombstone.version.canonical();
                statement.raw_bind_parameter(index, tombstone.entity_id.as_str())?;
                statement.raw_bind_parameter(index + 1, version.as_str())?;
                statement.raw_bind_parameter(index + 2, as_i64(tombstone.seq))?;
                index += 3;
            }
            statement.raw_execute()?;
        }
        Ok(())
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

    /// The live rows `query` selects.
    pub(super) async fn query(
        &self,
        handler: &dyn Handler,
        connection: &mut SqliteConnection,
        query: &crate::store::query::Query,
    ) -> Result<Vec<Effect>> {
        let text = format!("{}{}", self.live, query.sqlite_clauses());
        let mut statement = sqlx::query(&text);
        for filter in query.filters() {
            statement = bind_value(statement, &filter.value);
        }
        let rows = statement.fetch_all(&mut *connection).await?;
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
        crate::store::row::stored_effect(handler, values, deleted, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(chunked: &Chunked, len: usize) -> Vec<(usize, usize)> {
        chunked
            .chunks(len)
            .map(|(start, rows, text)| {
                assert_eq!(text.matches("(?)").count(), rows, "{text}");
                (start, rows)
            })
            .collect()
    }

    #[test]
    fn chunks_are_full_then_the_remainders_binary_digits() {
        let chunked = Chunked::new("INSERT INTO t (a) VALUES ", "(?)", "", 1);
        assert_eq!(chunked.texts.len(), 7);
        assert_eq!(chunked.single(), "INSERT INTO t (a) VALUES (?)");
        assert!(sizes(&chunked, 0).is_empty());
        assert_eq!(sizes(&chunked, 1), [(0, 1)]);
        assert_eq!(sizes(&chunked, 100), [(0, 64), (64, 32), (96, 4)]);
        assert_eq!(sizes(&chunked, 129), [(0, 64), (64, 64), (128, 1)]);
        for len in 0..300 {
            let chunks = sizes(&chunked, len);
            assert_eq!(chunks.iter().map(|(_, rows)| rows).sum::<usize>(), len);
            let mut next = 0;
            for (start, rows) in chunks {
                assert_eq!(start, next);
                next += rows;
            }
        }
    }

    #[test]
    fn wide_rows_stay_under_the_parameter_bound() {
        let chunked = Chunked::new("", "(?)", "", 2_000);
        let full = 1 << (chunked.texts.len() - 1);
        assert_eq!(full, 16, "32766 / 2000 = 16 rows");
        assert!(full * 2_000 <= MAX_PARAMETERS);
        let widest = Chunked::new("", "(?)", "", 40_000);
        assert_eq!(widest.texts.len(), 1, "at least one row per statement");
    }
}
