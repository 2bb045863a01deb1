//! Reading the outbox: counts for the status, and entries for the app.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use sync_core::version::Version;

use super::queue::parse_operation;
use super::{Entry, Status};
use crate::error::Result;

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

/// Every entry of one entity, oldest first.
pub(crate) async fn entries_of(
    conn: &mut SqliteConnection,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT \"id\", \"entity_type\", \"entity_id\", \"operation\", \"status\", \"attempts\", \"version\", \
         \"created_at\", \"reason\", \"detail\" FROM \"_sync_outbox\" \
         WHERE \"entity_type\" = ? AND \"entity_id\" = ? ORDER BY \"position\"",
    )
    .bind(entity_type)
    .bind(entity_id)
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
