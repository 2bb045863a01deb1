//! Applies a batch of changes in one transaction, as the [`Store`](crate::store::Store)
//! contract states. The decisions are the shared planner's ([`crate::store::plan`]); this
//! file only reads what it needs and writes what it decided.
//!
//! Per batch, not per change: one query finds the change ids processed before, one query per
//! table reads the stored rows, and one statement per 500 records the processed ids. Each
//! touched entity is then written once, with its final state.

use std::collections::{HashMap, HashSet};

use sqlx::{Connection, SqliteConnection};

use super::Inner;
use super::feed::{SEQ_KEY, read_meta, write_meta};
use super::tenants::TenantDb;
use crate::change::Change;
use crate::entity::{Arrival, Handler};
use crate::error::Result;
use crate::outcome::{BatchOutcome, Effect, OutcomeKind, Recorded};
use crate::store::plan::{Batch, Plan, Prefetched};
use crate::version::Version;

pub(super) async fn apply(
    db: &TenantDb,
    inner: &Inner,
    changes: &[Change],
    arrival: Arrival,
) -> Result<BatchOutcome> {
    let batch = Batch::check(inner.registry(), changes, arrival, |_, _, _| Ok(()));

    let mut writer = db.writer.lock().await;
    // IMMEDIATE takes the write lock up front, so reads inside see what the writes replace.
    // Dropping the transaction unfinished (an error or a cancelled caller) rolls it back.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let seq = read_meta(&mut tx, SEQ_KEY).await?;
    let prefetched = Prefetched {
        processed: processed_before(&mut tx, &batch.change_ids()).await?,
        stored: stored_states(&mut tx, inner, &batch.touched()).await?,
    };
    let plan = batch.decide(prefetched, seq);
    write(&mut tx, inner, &plan).await?;
    record(&mut tx, &plan.records, arrival.now).await?;
    if plan.advanced {
        write_meta(&mut tx, SEQ_KEY, plan.seq).await?;
    }
    tx.commit().await?;
    Ok(BatchOutcome {
        outcomes: plan.outcomes,
        cursor: plan.seq,
    })
}

/// Writes the final state of every entity the batch changed.
async fn write(tx: &mut SqliteConnection, inner: &Inner, plan: &Plan<'_>) -> Result<()> {
    for table in &plan.tables {
        let sql = inner.table_sql(table.handler);
        for live in &table.live {
            sql.upsert(tx, &live.row, live.seq).await?;
        }
        for tombstone in &table.tombstones {
            sql.mark_deleted(tx, &tombstone.entity_id, tombstone.version, tombstone.seq)
                .await?;
        }
    }
    Ok(())
}

/// The recorded outcomes of the batch's change ids that were processed before.
async fn processed_before(
    tx: &mut SqliteConnection,
    ids: &[&str],
) -> Result<HashMap<String, Recorded>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT \"change_id\", \"kind\", \"version\", \"seq\" FROM \"_sync_changes\" \
         WHERE \"change_id\" IN (SELECT value FROM json_each(?))",
    )
    .bind(serde_json::to_string(ids).unwrap_or_default())
    .fetch_all(&mut *tx)
    .await?;
    let mut processed = HashMap::with_capacity(rows.len());
    for (change_id, kind, version, seq) in rows {
        let (Ok(version), Ok(seq)) = (Version::parse(&version), u64::try_from(seq)) else {
            continue;
        };
        let kind = if kind == "superseded" {
            OutcomeKind::Superseded
        } else {
            OutcomeKind::Applied
        };
        processed.insert(change_id, Recorded { kind, version, seq });
    }
    Ok(processed)
}

/// The stored states, live or tombstone, of the entities the batch touches.
async fn stored_states(
    tx: &mut SqliteConnection,
    inner: &Inner,
    touched: &[(&dyn Handler, Vec<&str>)],
) -> Result<HashMap<(&'static str, String), Effect>> {
    let mut stored = HashMap::new();
    for (handler, ids) in touched {
        let sql = inner.table_sql(*handler);
        let wanted: HashSet<&str> = ids.iter().copied().collect();
        let rows = sqlx::query(&sql.rows)
            .bind(serde_json::to_string(ids).unwrap_or_default())
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let state = sql.effect(*handler, row)?;
            if wanted.contains(state.entity_id.as_str()) {
                stored.insert((handler.table(), state.entity_id.clone()), state);
            }
        }
    }
    Ok(stored)
}

/// Records the processed change ids with their outcomes, in one statement per 500.
async fn record(
    tx: &mut SqliteConnection,
    records: &[(&str, Recorded)],
    now: Version,
) -> Result<()> {
    for chunk in records.chunks(500) {
        let rows: Vec<(&str, &str, String, u64)> = chunk
            .iter()
            .map(|(id, recorded)| {
                (
                    *id,
                    recorded.kind.as_str(),
                    recorded.version.to_string(),
                    recorded.seq,
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO \"_sync_changes\" (\"change_id\", \"kind\", \"version\", \"seq\", \"processed_at\") \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
             json_extract(value, '$[3]'), ? FROM json_each(?)",
        )
        .bind(now.to_string())
        .bind(serde_json::to_string(&rows).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
