//! The statements of one entity table, built once per store so each change only binds.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::bind::{as_i64, bind_value, quoted, read_value};
use crate::entity::{Handler, Role, Value};
use crate::error::{Error, Result};
use crate::outcome::Effect;
use crate::store::ddl::{DELETED, SEQ};
use crate::version::Version;

/// The SQL of one entity table. Selects return the entity's columns, then the tombstone
/// flag, then the sequence number.
pub(super) struct TableSql {
    pub(super) upsert: String,
    pub(super) delete: String,
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
            upsert: format!(
                "INSERT INTO {table} ({list}, \"{DELETED}\", \"{SEQ}\") VALUES ({placeholders}, 0, ?) \
                 ON CONFLICT ({id}) DO UPDATE SET {}, \"{DELETED}\" = 0, \"{SEQ}\" = excluded.\"{SEQ}\"",
                updates.join(", ")
            ),
            delete: format!(
                "INSERT INTO {table} ({id}, {version}, \"{DELETED}\", \"{SEQ}\") VALUES (?, ?, 1, ?) \
                 ON CONFLICT ({id}) DO UPDATE SET {version} = excluded.{version}, \
                 \"{DELETED}\" = 1, \"{SEQ}\" = excluded.\"{SEQ}\""
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
        let mut query = sqlx::query(&self.upsert);
        for value in row {
            query = bind_value(query, value);
        }
        query.bind(as_i64(seq)).execute(&mut *connection).await?;
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
        sqlx::query(&self.delete)
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
