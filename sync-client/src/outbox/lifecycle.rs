//! What becomes of entries after they were sent: retries, failures, lost answers, and the
//! user's `retry_failed` and `discard_failed`.

use std::collections::HashMap;

use sqlx::{Row, SqliteConnection};

use super::queue::{Base, decode_base};
use crate::error::Result;

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
    .bind(sync_core::change::new_change_id())
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

/// A failed entity whose entries were removed, with the server state its entries
/// recorded last.
#[derive(Debug)]
pub(crate) struct Discarded {
    pub(crate) entity_type: String,
    pub(crate) entity_id: String,
    pub(crate) base: Option<Base>,
}

/// Removes every failed entry; returns how many, and each entity once, with the newest
/// base of its failed entries by server sequence number (the earliest among equals).
///
/// A base is the state an entry was made on, or a newer server state held back while it
/// waited. A local edit keeps the sequence number of the state it was made on, so a base
/// that is a refused earlier edit never outranks the server state that edit was made on,
/// while a server state that arrived between two failed edits does.
pub(crate) async fn take_failed(conn: &mut SqliteConnection) -> Result<(usize, Vec<Discarded>)> {
    let rows = sqlx::query(
        "SELECT \"entity_type\", \"entity_id\", \"base\" FROM \"_sync_outbox\" WHERE \"status\" = 'failed' \
         ORDER BY \"position\"",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut positions: HashMap<(String, String), usize> = HashMap::new();
    let mut discarded: Vec<Discarded> = Vec::new();
    for row in rows {
        let entity_type: String = row.try_get(0)?;
        let entity_id: String = row.try_get(1)?;
        let base = decode_base(row.try_get(2)?);
        match positions.get(&(entity_type.clone(), entity_id.clone())) {
            Some(&position) => {
                let kept = &mut discarded[position].base;
                // No base (nothing before a create) counts as sequence number 0.
                let seq = |base: &Option<Base>| base.as_ref().map_or(0, |base| base.seq);
                if seq(&base) > seq(kept) {
                    *kept = base;
                }
            }
            None => {
                positions.insert((entity_type.clone(), entity_id.clone()), discarded.len());
                discarded.push(Discarded {
                    entity_type,
                    entity_id,
                    base,
                });
            }
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
