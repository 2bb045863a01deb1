//! The queue: the outbox table, queueing local changes (with coalescing), and taking
//! batches to send. Callers pass a connection that is usually inside a transaction, so an
//! entry changes together with the rows it concerns.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::{Row, SqliteConnection};
use sync_core::change::Operation;
use sync_core::protocol::Entry;
use sync_core::version::Version;

use super::coalesce;
use super::lifecycle::fail;
use crate::error::Result;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS \"_sync_outbox\" (\
        \"position\" INTEGER PRIMARY KEY AUTOINCREMENT, \
        \"id\" TEXT NOT NULL UNIQUE, \
        \"entity_type\" TEXT NOT NULL, \
        \"entity_id\" TEXT NOT NULL, \
        \"operation\" TEXT NOT NULL, \
        \"payload\" TEXT NOT NULL, \
        \"version\" TEXT NOT NULL, \
        \"status\" TEXT NOT NULL, \
        \"sent\" INTEGER NOT NULL DEFAULT 0, \
        \"attempts\" INTEGER NOT NULL DEFAULT 0, \
        \"next_attempt\" INTEGER NOT NULL DEFAULT 0, \
        \"created_at\" INTEGER NOT NULL, \
        \"reason\" TEXT, \
        \"detail\" TEXT, \
        \"base\" TEXT, \
        \"base_seq\" INTEGER)",
    "CREATE INDEX IF NOT EXISTS \"_sync_outbox_entity_idx\" ON \"_sync_outbox\" (\"entity_type\", \"entity_id\")",
    "CREATE INDEX IF NOT EXISTS \"_sync_outbox_status_idx\" ON \"_sync_outbox\" (\"status\", \"position\")",
    "CREATE INDEX IF NOT EXISTS \"_sync_outbox_ready_idx\" ON \"_sync_outbox\" (\"status\", \"next_attempt\")",
    // The count of entries in each status, kept by triggers so the status is read in O(1).
    "CREATE TABLE IF NOT EXISTS \"_sync_outbox_counts\" (\"status\" TEXT NOT NULL PRIMARY KEY, \"entries\" INTEGER NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS \"_sync_outbox_counts_insert\" AFTER INSERT ON \"_sync_outbox\" BEGIN \
        INSERT INTO \"_sync_outbox_counts\" (\"status\", \"entries\") VALUES (NEW.\"status\", 1) \
        ON CONFLICT (\"status\") DO UPDATE SET \"entries\" = \"entries\" + 1; END",
    "CREATE TRIGGER IF NOT EXISTS \"_sync_outbox_counts_delete\" AFTER DELETE ON \"_sync_outbox\" BEGIN \
        UPDATE \"_sync_outbox_counts\" SET \"entries\" = \"entries\" - 1 WHERE \"status\" = OLD.\"status\"; END",
    "CREATE TRIGGER IF NOT EXISTS \"_sync_outbox_counts_update\" AFTER UPDATE OF \"status\" ON \"_sync_outbox\" \
        WHEN OLD.\"status\" <> NEW.\"status\" BEGIN \
        UPDATE \"_sync_outbox_counts\" SET \"entries\" = \"entries\" - 1 WHERE \"status\" = OLD.\"status\"; \
        INSERT INTO \"_sync_outbox_counts\" (\"status\", \"entries\") VALUES (NEW.\"status\", 1) \
        ON CONFLICT (\"status\") DO UPDATE SET \"entries\" = \"entries\" + 1; END",
    // Recounted at every open, so the counts can never drift from the entries.
    "DELETE FROM \"_sync_outbox_counts\"",
    "INSERT INTO \"_sync_outbox_counts\" (\"status\", \"entries\") \
        SELECT \"status\", COUNT(*) FROM \"_sync_outbox\" GROUP BY \"status\"",
];

/// Creates the outbox table if it is missing, and recounts it.
pub(crate) async fn create(conn: &mut SqliteConnection) -> Result<()> {
    for statement in SCHEMA {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}

/// An entity's state in the replica before a local edit: what discarding the edit restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Base {
    pub(crate) deleted: bool,
    pub(crate) version: Version,
    pub(crate) data: Json,
    pub(crate) seq: u64,
}

/// A local change to queue.
pub(crate) struct NewChange<'a> {
    pub(crate) entity_type: &'static str,
    pub(crate) entity_id: &'a str,
    pub(crate) operation: Operation,
    pub(crate) payload: &'a Json,
    pub(crate) version: Version,
    /// The replica's state of the entity before this edit; `None` if it had none.
    pub(crate) base: Option<Base>,
}

/// What queueing a change did.
#[derive(Debug)]
pub(crate) enum Queued {
    /// A new entry, or merged into a pending one.
    Entry,
    /// The change cancelled a create that was never sent: nothing is queued, and the
    /// replica should go back to `base`, its state before that create.
    Cancelled { base: Option<Base> },
}

/// Queues `change`, merging it into the entity's latest pending entry if that was never
/// sent.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    change: NewChange<'_>,
    now_ms: i64,
) -> Result<Queued> {
    let queued = sqlx::query(
        "SELECT \"position\", \"operation\", \"base\" FROM \"_sync_outbox\" \
         WHERE \"entity_type\" = ? AND \"entity_id\" = ? AND \"status\" = 'pending' AND \"sent\" = 0 \
         ORDER BY \"position\" DESC LIMIT 1",
    )
    .bind(change.entity_type)
    .bind(change.entity_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(queued) = queued {
        let position: i64 = queued.try_get(0)?;
        let operation = parse_operation(&queued.try_get::<String, _>(1)?);
        // A create cancels out only when it is the entity's one entry. Behind an entry
        // already sent, the replica's state before the create is that entry's, not the
        // server's: the unsent create becomes a delete of its own, and the earlier entry's
        // answer settles the entity as usual.
        let merged = match coalesce(operation, change.operation) {
            None if has_earlier_entry(conn, change.entity_type, change.entity_id, position)
                .await? =>
            {
                Some(Operation::Delete)
            }
            merged => merged,
        };
        return Ok(match merged {
            Some(merged) => {
                sqlx::query(
                    "UPDATE \"_sync_outbox\" SET \"operation\" = ?, \"payload\" = ?, \"version\" = ? WHERE \"position\" = ?",
                )
                .bind(merged.as_str())
                .bind(change.payload.to_string())
                .bind(change.version.to_string())
                .bind(position)
                .execute(&mut *conn)
                .await?;
                Queued::Entry
            }
            None => {
                let base = decode_base(queued.try_get(2)?);
                sqlx::query("DELETE FROM \"_sync_outbox\" WHERE \"position\" = ?")
                    .bind(position)
                    .execute(&mut *conn)
                    .await?;
                Queued::Cancelled { base }
            }
        });
    }
    sqlx::query(
        "INSERT INTO \"_sync_outbox\" (\"id\", \"entity_type\", \"entity_id\", \"operation\", \"payload\", \
         \"version\", \"status\", \"created_at\", \"base\", \"base_seq\") VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
    )
    .bind(sync_core::change::new_change_id())
    .bind(change.entity_type)
    .bind(change.entity_id)
    .bind(change.operation.as_str())
    .bind(change.payload.to_string())
    .bind(change.version.to_string())
    .bind(now_ms)
    .bind(change.base.as_ref().map(|base| json!(base).to_string()))
    .bind(change.base.as_ref().map(|base| seq_i64(base.seq)))
    .execute(&mut *conn)
    .await?;
    Ok(Queued::Entry)
}

/// Whether the entity has an entry queued before `position`.
async fn has_earlier_entry(
    conn: &mut SqliteConnection,
    entity_type: &str,
    entity_id: &str,
    position: i64,
) -> Result<bool> {
    let earlier: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM \"_sync_outbox\" WHERE \"entity_type\" = ? AND \"entity_id\" = ? AND \"position\" < ? LIMIT 1",
    )
    .bind(entity_type)
    .bind(entity_id)
    .bind(position)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(earlier.is_some())
}

/// An entry as sent: what the answer is matched against.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) id: String,
    pub(crate) entity_type: String,
    pub(crate) entity_id: String,
    pub(crate) version: Version,
    pub(crate) attempts: u32,
}

/// A batch taken for sending: the entries and their wire form.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) entries: Vec<Sent>,
    pub(crate) wire: Vec<Entry>,
    /// Entries that can never fit in one message; they were marked failed.
    pub(crate) too_large: usize,
}

/// Limits of one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: usize,
}

/// Takes up to `limits` ready pending entries, oldest first and at most one per entity
/// (none of an entity in `busy`), marks them processing, and returns them with their wire
/// form for `process_sync_batch`.
pub(crate) async fn take(
    conn: &mut SqliteConnection,
    tenant: &str,
    limits: BatchLimits,
    busy: &HashSet<(String, String)>,
    now_ms: i64,
) -> Result<Taken> {
    let rows = sqlx::query(
        "SELECT \"id\", \"entity_type\", \"entity_id\", \"operation\", \"payload\", \"version\", \"attempts\", \
         \"created_at\" FROM \"_sync_outbox\" WHERE \"status\" = 'pending' AND \"next_attempt\" <= ? \
         ORDER BY \"position\" LIMIT ?",
    )
    .bind(now_ms)
    .bind(i64::try_from(limits.max_entries + busy.len()).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    let mut taken = Taken::default();
    let mut chosen: HashSet<(String, String)> = HashSet::new();
    let mut bytes = 0;
    for row in rows {
        if taken.entries.len() >= limits.max_entries {
            break;
        }
        let id: String = row.try_get(0)?;
        let entity_type: String = row.try_get(1)?;
        let entity_id: String = row.try_get(2)?;
        let key = (entity_type.clone(), entity_id.clone());
        if busy.contains(&key) || chosen.contains(&key) {
            continue;
        }
        let operation = parse_operation(&row.try_get::<String, _>(3)?);
        let payload: Json =
            serde_json::from_str(&row.try_get::<String, _>(4)?).unwrap_or(Json::Null);
        let attempts = u32::try_from(row.try_get::<i64, _>(6)?).unwrap_or(0);
        let wire = Entry {
            id: Some(id.clone()),
            tenant_id: Some(tenant.to_owned()),
            entity_type: Some(entity_type.clone()),
            entity_id: Some(entity_id.clone()),
            operation_type: Some(operation.as_str().to_owned()),
            payload: Some(payload),
            timestamp: Some(row.try_get::<i64, _>(7)?),
            status: Some("pending".to_owned()),
            attempts: Some(attempts),
        };
        // Its size inside the batch's array, with the separating comma.
        let size = serde_json::to_string(&wire).map_or(usize::MAX, |text| text.len()) + 1;
        if size > limits.max_bytes {
            fail(
                conn,
                &id,
                "too_large",
                &format!("the change takes {size} bytes; the server accepts messages of at most {} bytes", limits.max_bytes),
            )
            .await?;
            taken.too_large += 1;
            continue;
        }
        if bytes + size > limits.max_bytes {
            break;
        }
        bytes += size;
        chosen.insert(key);
        taken.entries.push(Sent {
            id,
            entity_type,
            entity_id,
            version: Version::parse(&row.try_get::<String, _>(5)?).unwrap_or(Version::MIN),
            attempts: attempts + 1,
        });
        taken.wire.push(wire);
    }
    let ids: Vec<&str> = taken
        .entries
        .iter()
        .map(|entry| entry.id.as_str())
        .collect();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "UPDATE \"_sync_outbox\" SET \"status\" = 'processing', \"sent\" = 1, \"attempts\" = \"attempts\" + 1 \
             WHERE \"id\" IN ({})",
            placeholders(chunk.len())
        );
        bind_all(sqlx::query(&sql), chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(taken)
}

/// How many values one `IN (…)` list binds.
pub(super) const CHUNK: usize = 500;

pub(super) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

pub(super) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    values: &[&'q str],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for value in values {
        query = query.bind(*value);
    }
    query
}

/// Removes the entries with `ids` (they were acknowledged).
pub(crate) async fn remove_all(conn: &mut SqliteConnection, ids: &[&str]) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM \"_sync_outbox\" WHERE \"id\" IN ({})",
            placeholders(chunk.len())
        );
        bind_all(sqlx::query(&sql), chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(super) fn decode_base(text: Option<String>) -> Option<Base> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

pub(super) fn parse_operation(text: &str) -> Operation {
    Operation::parse(text).unwrap_or(Operation::Update)
}

pub(super) fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
