//! Which entities have outbox entries, and the bases their entries restore.

use std::collections::HashMap;

use serde_json::{Value as Json, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use sync_core::change::Operation;

use super::Status;
use super::queue::{Base, CHUNK, bind_all, decode_base, parse_operation, placeholders, seq_i64};
use crate::error::Result;

/// Whether an entity has entries that hold back incoming changes (pending or processing)
/// and entries that failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Presence {
    pub(crate) unsettled: bool,
    pub(crate) failed: bool,
}

/// The outbox presence of one entity.
pub(crate) async fn presence(
    conn: &mut SqliteConnection,
    entity_type: &str,
    entity_id: &str,
) -> Result<Presence> {
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT \"status\" FROM \"_sync_outbox\" WHERE \"entity_type\" = ? AND \"entity_id\" = ?",
    )
    .bind(entity_type)
    .bind(entity_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(presence_of(
        statuses.iter().map(|status| Status::parse(status)),
        Presence::default(),
    ))
}

fn presence_of(statuses: impl Iterator<Item = Status>, start: Presence) -> Presence {
    statuses.fold(start, |presence, status| Presence {
        unsettled: presence.unsettled || status != Status::Failed,
        failed: presence.failed || status == Status::Failed,
    })
}

/// The outbox presence of every entity that has entries, for applying many changes.
#[derive(Debug, Default)]
pub(crate) struct PresenceIndex(HashMap<(String, String), Presence>);

impl PresenceIndex {
    /// The presence of every entity with entries.
    pub(crate) async fn load(conn: &mut SqliteConnection) -> Result<PresenceIndex> {
        let rows = sqlx::query(
            "SELECT DISTINCT \"entity_type\", \"entity_id\", \"status\" FROM \"_sync_outbox\"",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut index = PresenceIndex::default();
        index.add(&rows)?;
        Ok(index)
    }

    /// The presence of the entities with these ids (of any type).
    pub(crate) async fn load_for(
        conn: &mut SqliteConnection,
        entity_ids: &[&str],
    ) -> Result<PresenceIndex> {
        let mut index = PresenceIndex::default();
        for chunk in entity_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT DISTINCT \"entity_type\", \"entity_id\", \"status\" FROM \"_sync_outbox\" \
                 WHERE \"entity_id\" IN ({})",
                placeholders(chunk.len())
            );
            let rows = bind_all(sqlx::query(&sql), chunk)
                .fetch_all(&mut *conn)
                .await?;
            index.add(&rows)?;
        }
        Ok(index)
    }

    fn add(&mut self, rows: &[SqliteRow]) -> Result<()> {
        for row in rows {
            let status = Status::parse(&row.try_get::<String, _>(2)?);
            let presence = self
                .0
                .entry((row.try_get(0)?, row.try_get(1)?))
                .or_default();
            *presence = presence_of([status].into_iter(), *presence);
        }
        Ok(())
    }

    pub(crate) fn get(&self, entity_type: &str, entity_id: &str) -> Presence {
        self.0
            .get(&(entity_type.to_owned(), entity_id.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Whether the entity has entries.
    pub(crate) fn contains(&self, entity_type: &str, entity_id: &str) -> bool {
        self.0
            .contains_key(&(entity_type.to_owned(), entity_id.to_owned()))
    }

    /// Every entity with entries.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .keys()
            .map(|(entity_type, entity_id)| (entity_type.as_str(), entity_id.as_str()))
    }
}

/// Records `base` as the state to restore if the entity's unsettled entries are discarded,
/// when it is newer than what they recorded: an incoming change that was held back.
pub(crate) async fn rebase(
    conn: &mut SqliteConnection,
    entity_type: &str,
    entity_id: &str,
    base: &Base,
) -> Result<()> {
    sqlx::query(
        "UPDATE \"_sync_outbox\" SET \"base\" = ?, \"base_seq\" = ? WHERE \"entity_type\" = ? AND \"entity_id\" = ? \
         AND \"status\" <> 'failed' AND (\"base_seq\" IS NULL OR \"base_seq\" < ?)",
    )
    .bind(json!(base).to_string())
    .bind(seq_i64(base.seq))
    .bind(entity_type)
    .bind(entity_id)
    .bind(seq_i64(base.seq))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What an entry being settled recorded: the state it sent, and its base (the replica's
/// state before the edit, or a newer server state held back while it waited).
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) operation: Operation,
    pub(crate) payload: Json,
    pub(crate) base: Option<Base>,
}

/// What the entries with `ids` recorded, by id; read before an answer removes them.
pub(crate) async fn recorded(
    conn: &mut SqliteConnection,
    ids: &[&str],
) -> Result<HashMap<String, Recorded>> {
    let mut recorded = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT \"id\", \"operation\", \"payload\", \"base\" FROM \"_sync_outbox\" WHERE \"id\" IN ({})",
            placeholders(chunk.len())
        );
        let rows = bind_all(sqlx::query(&sql), chunk)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let payload: String = row.try_get(2)?;
            recorded.insert(
                row.try_get(0)?,
                Recorded {
                    operation: parse_operation(&row.try_get::<String, _>(1)?),
                    payload: serde_json::from_str(&payload).unwrap_or(Json::Null),
                    base: decode_base(row.try_get(3)?),
                },
            );
        }
    }
    Ok(recorded)
}

/// Forgets the server sequence numbers of every recorded base (after a full reload, they
/// belong to a feed that no longer applies).
pub(crate) async fn forget_base_seqs(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query("UPDATE \"_sync_outbox\" SET \"base_seq\" = 0 WHERE \"base_seq\" IS NOT NULL")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether the entity has any entry.
pub(crate) async fn has_entries(
    conn: &mut SqliteConnection,
    entity_type: &str,
    entity_id: &str,
) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM \"_sync_outbox\" WHERE \"entity_type\" = ? AND \"entity_id\" = ? LIMIT 1",
    )
    .bind(entity_type)
    .bind(entity_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}
