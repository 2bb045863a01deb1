//! The outbox table and every statement on it. Callers pass a connection that is usually
//! inside a transaction, so an entry changes together with the rows it concerns.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use sync_core::change::Operation;
use sync_core::version::Version;

use super::{Entry, Status, coalesce};
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
        return Ok(match coalesce(operation, change.operation) {
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
    .bind(uuid::Uuid::new_v4().to_string())
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
    pub(crate) wire: Vec<Json>,
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
        let wire = json!({
            "id": id,
            "tenantId": tenant,
            "entityType": entity_type,
            "entityId": entity_id,
            "operationType": operation.as_str(),
            "payload": payload,
            "timestamp": row.try_get::<i64, _>(7)?,
            "status": "pending",
            "attempts": attempts,
        });
        let size = wire.to_string().len() + 1;
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
const CHUNK: usize = 500;

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

fn bind_all<'q>(
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

/// Puts the entry back to pending, to be sent again from `next_attempt_ms`, remembering
/// why it was refused.
pub(crate) async fn retry_later(
    conn: &mut SqliteConnection,
    id: &str,
    next_attempt_ms: i64,
    reason: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE \"_sync_outbox\" SET \"status\" = 'pending', \"next_attempt\" = ?, \"reason\" = ?, \"detail\" = ? \
         WHERE \"id\" = ?",
    )
    .bind(next_attempt_ms)
    .bind(reason)
    .bind(detail)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks the entry failed, with why.
pub(crate) async fn fail(
    conn: &mut SqliteConnection,
    id: &str,
    reason: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query("UPDATE \"_sync_outbox\" SET \"status\" = 'failed', \"reason\" = ?, \"detail\" = ? WHERE \"id\" = ?")
        .bind(reason)
        .bind(detail)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Queues the entry again under a fresh change id, as if never sent. Used when the server
/// says "duplicate" of a change whose original outcome the client never learned: the new
/// id makes the server decide again and answer with the state that won.
pub(crate) async fn reissue(conn: &mut SqliteConnection, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE \"_sync_outbox\" SET \"id\" = ?, \"status\" = 'pending', \"sent\" = 0, \"next_attempt\" = 0 \
         WHERE \"id\" = ?",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts every processing entry back to pending (after a disconnect, or at start-up after
/// a crash); an entry sent `max_attempts` times or more fails instead. Returns how many
/// failed.
pub(crate) async fn requeue_processing(
    conn: &mut SqliteConnection,
    max_attempts: u32,
) -> Result<u64> {
    let failed = sqlx::query(
        "UPDATE \"_sync_outbox\" SET \"status\" = 'failed', \"reason\" = 'no_answer', \
         \"detail\" = 'gave up after ' || \"attempts\" || ' attempts without an answer' \
         WHERE \"status\" = 'processing' AND \"attempts\" >= ?",
    )
    .bind(i64::from(max_attempts))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("UPDATE \"_sync_outbox\" SET \"status\" = 'pending', \"next_attempt\" = 0 WHERE \"status\" = 'processing'")
        .execute(&mut *conn)
        .await?;
    Ok(failed)
}

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

/// How many entries are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) pending: u64,
    pub(crate) processing: u64,
    pub(crate) failed: u64,
}

pub(crate) async fn counts(conn: &mut SqliteConnection) -> Result<Counts> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT \"status\", \"entries\" FROM \"_sync_outbox_counts\"")
            .fetch_all(&mut *conn)
            .await?;
    let mut counts = Counts::default();
    for (status, count) in rows {
        let count = u64::try_from(count).unwrap_or(0);
        match Status::parse(&status) {
            Status::Pending => counts.pending += count,
            Status::Processing => counts.processing += count,
            Status::Failed => counts.failed += count,
        }
    }
    Ok(counts)
}

/// Every entry, or those in `only`, oldest first.
pub(crate) async fn list(conn: &mut SqliteConnection, only: Option<Status>) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT \"id\", \"entity_type\", \"entity_id\", \"operation\", \"status\", \"attempts\", \"version\", \
         \"created_at\", \"reason\", \"detail\" FROM \"_sync_outbox\" WHERE ? IS NULL OR \"status\" = ? \
         ORDER BY \"position\"",
    )
    .bind(only.map(Status::as_str))
    .bind(only.map(Status::as_str))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(entry).collect()
}

fn entry(row: &SqliteRow) -> Result<Entry> {
    Ok(Entry {
        id: row.try_get(0)?,
        entity_type: row.try_get(1)?,
        entity_id: row.try_get(2)?,
        operation: parse_operation(&row.try_get::<String, _>(3)?),
        status: Status::parse(&row.try_get::<String, _>(4)?),
        attempts: u32::try_from(row.try_get::<i64, _>(5)?).unwrap_or(0),
        version: Version::parse(&row.try_get::<String, _>(6)?).unwrap_or(Version::MIN),
        created_at: chrono::DateTime::from_timestamp_millis(row.try_get(7)?).unwrap_or_default(),
        reason: row.try_get(8)?,
        detail: row.try_get(9)?,
    })
}

/// Puts every failed entry back to pending with a fresh count of attempts.
pub(crate) async fn retry_failed(conn: &mut SqliteConnection) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE \"_sync_outbox\" SET \"status\" = 'pending', \"attempts\" = 0, \"next_attempt\" = 0, \
         \"reason\" = NULL, \"detail\" = NULL WHERE \"status\" = 'failed'",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// A failed entity whose entries were removed, with the base of its earliest one.
#[derive(Debug)]
pub(crate) struct Discarded {
    pub(crate) entity_type: String,
    pub(crate) entity_id: String,
    pub(crate) base: Option<Base>,
}

/// Removes every failed entry; returns how many, and each entity once, with the base of
/// its earliest failed entry.
pub(crate) async fn take_failed(conn: &mut SqliteConnection) -> Result<(usize, Vec<Discarded>)> {
    let rows = sqlx::query(
        "SELECT \"entity_type\", \"entity_id\", \"base\" FROM \"_sync_outbox\" WHERE \"status\" = 'failed' \
         ORDER BY \"position\"",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut seen = HashSet::new();
    let mut discarded = Vec::new();
    for row in rows {
        let entity_type: String = row.try_get(0)?;
        let entity_id: String = row.try_get(1)?;
        if seen.insert((entity_type.clone(), entity_id.clone())) {
            discarded.push(Discarded {
                entity_type,
                entity_id,
                base: decode_base(row.try_get(2)?),
            });
        }
    }
    let count = sqlx::query("DELETE FROM \"_sync_outbox\" WHERE \"status\" = 'failed'")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok((usize::try_from(count).unwrap_or(usize::MAX), discarded))
}

/// When the earliest pending entry in backoff becomes ready, in ms since the epoch.
pub(crate) async fn next_ready(conn: &mut SqliteConnection) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(\"next_attempt\") FROM \"_sync_outbox\" WHERE \"status\" = 'pending'",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Makes every pending entry ready now, ending its backoff.
pub(crate) async fn force_ready(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query("UPDATE \"_sync_outbox\" SET \"next_attempt\" = 0 WHERE \"status\" = 'pending' AND \"next_attempt\" > 0")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn decode_base(text: Option<String>) -> Option<Base> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

fn parse_operation(text: &str) -> Operation {
    Operation::parse(text).unwrap_or(Operation::Update)
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
