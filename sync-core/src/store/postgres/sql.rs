//! The statements of one entity table, built once per store so each batch only binds.
//!
//! Every statement is bound to one tenant: `$1` is always the tenant id. Writes are
//! set-based: one `UNNEST` upsert for a batch's live rows and one for its tombstones.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::bind::{ColumnArray, array_cast, as_i64, quoted, read_value};
use crate::entity::{Handler, Role, SqlType, Value};
use crate::error::Result;
use crate::outcome::Effect;
use crate::store::ddl::{DELETED, SEQ, TENANT};
use crate::store::plan::{LiveRow, Tombstone};

/// The SQL of one entity table. Selects return the entity's columns, then the tombstone
/// flag, then the sequence number.
pub(super) struct TableSql {
    upsert: String,
    tombstones: String,
    /// The stored rows of the ids in a `text[]` parameter.
    pub(super) rows: String,
    pub(super) row: String,
    pub(super) feed: String,
    pub(super) live: String,
    pub(super) id_type: SqlType,
}

impl TableSql {
    pub(super) fn new(handler: &dyn Handler) -> TableSql {
        let table = quoted(handler.table());
        let columns = handler.columns();
        let names: Vec<String> = columns.iter().map(|column| quoted(column.name)).collect();
        let id_column = &columns[handler.position(Role::Id)];
        let id = quoted(id_column.name);
        let version = quoted(columns[handler.position(Role::UpdatedAt)].name);
        let list = names.join(", ");
        let tenant = format!("\"{TENANT}\" = $1");
        let key = format!("(\"{TENANT}\", {id})");
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("${}::{}", index + 2, array_cast(column.sql_type)))
            .collect();
        let updates: Vec<String> = names
            .iter()
            .filter(|name| **name != id)
            .map(|name| format!("{name} = EXCLUDED.{name}"))
            .collect();
        let ids = format!("$2::{}", array_cast(id_column.sql_type));
        let order = if id_column.sql_type == SqlType::Text {
            format!("{id} COLLATE \"C\"")
        } else {
            id.clone()
        };
        let selected = format!("{list}, \"{DELETED}\", \"{SEQ}\"");
        TableSql {
            upsert: format!(
                "INSERT INTO {table} (\"{TENANT}\", {list}, \"{DELETED}\", \"{SEQ}\") \
                 SELECT $1::text, {}, FALSE, u.c{seq} FROM UNNEST({}, ${}::bigint[]) AS u({}) \
                 ON CONFLICT {key} DO UPDATE SET {}, \"{DELETED}\" = FALSE, \"{SEQ}\" = EXCLUDED.\"{SEQ}\"",
                (1..=columns.len())
                    .map(|n| format!("u.c{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                arrays.join(", "),
                columns.len() + 2,
                (1..=columns.len() + 1)
                    .map(|n| format!("c{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                updates.join(", "),
                seq = columns.len() + 1,
            ),
            tombstones: format!(
                "INSERT INTO {table} (\"{TENANT}\", {id}, {version}, \"{DELETED}\", \"{SEQ}\") \
                 SELECT $1::text, u.id, u.version, TRUE, u.seq \
                 FROM UNNEST({ids}, $3::timestamptz[], $4::bigint[]) AS u(id, version, seq) \
                 ON CONFLICT {key} DO UPDATE SET {version} = EXCLUDED.{version}, \
                 \"{DELETED}\" = TRUE, \"{SEQ}\" = EXCLUDED.\"{SEQ}\""
            ),
            rows: format!("SELECT {selected} FROM {table} WHERE {tenant} AND {id} = ANY({ids})"),
            row: format!(
                "SELECT {selected} FROM {table} WHERE {tenant} AND {id} = $2::text::{}",
                id_column.sql_type.postgres()
            ),
            feed: format!(
                "SELECT {selected} FROM {table} WHERE {tenant} AND \"{SEQ}\" > $2 \
                 ORDER BY \"{SEQ}\" LIMIT $3"
            ),
            live: format!(
                "SELECT {selected} FROM {table} WHERE {tenant} AND NOT \"{DELETED}\" ORDER BY {order}"
            ),
            id_type: id_column.sql_type,
        }
    }

    /// Upserts `rows` as live rows, in one statement.
    pub(super) async fn upsert(
        &self,
        connection: &mut PgConnection,
        handler: &dyn Handler,
        tenant: &str,
        rows: &[LiveRow],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let columns = handler.columns();
        let mut arrays: Vec<ColumnArray> = columns
            .iter()
            .map(|column| ColumnArray::new(column.sql_type, rows.len()))
            .collect();
        let mut seqs = Vec::with_capacity(rows.len());
        for live in rows {
            for (array, value) in arrays.iter_mut().zip(&live.row) {
                array.push(value);
            }
            seqs.push(as_i64(live.seq));
        }
        let mut query = sqlx::query(&self.upsert).bind(tenant);
        for array in arrays {
            query = array.bind(query);
        }
        query.bind(seqs).execute(&mut *connection).await?;
        Ok(())
    }

    /// Writes `tombstones`, keeping (or creating) each row flagged deleted, in one statement.
    pub(super) async fn mark_deleted(
        &self,
        connection: &mut PgConnection,
        tenant: &str,
        tombstones: &[Tombstone],
    ) -> Result<()> {
        if tombstones.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = tombstones.iter().map(|t| t.entity_id.as_str()).collect();
        let versions: Vec<chrono::DateTime<chrono::Utc>> = tombstones
            .iter()
            .map(|tombstone| tombstone.version.to_datetime())
            .collect();
        let seqs: Vec<i64> = tombstones.iter().map(|t| as_i64(t.seq)).collect();
        let query = sqlx::query(&self.tombstones).bind(tenant);
        let query = self.bind_ids(query, &ids);
        query
            .bind(versions)
            .bind(seqs)
            .execute(&mut *connection)
            .await?;
        Ok(())
    }

    /// Binds entity ids as the id column's array type.
    pub(super) fn bind_ids<'q>(
        &self,
        query: super::bind::PgQuery<'q>,
        ids: &[&str],
    ) -> super::bind::PgQuery<'q> {
        let mut array = ColumnArray::new(self.id_type, ids.len());
        for id in ids {
            let value = match self.id_type {
                SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
                    id.parse().map_or(Value::Null, Value::Int)
                }
                _ => Value::Text((*id).to_owned()),
            };
            array.push(&value);
        }
        array.bind(query)
    }

    /// Decodes a selected row into the entity's state.
    pub(super) fn effect(&self, handler: &dyn Handler, row: &PgRow) -> Result<Effect> {
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
