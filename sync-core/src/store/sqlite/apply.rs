//! Applies a batch of changes in one transaction, as the [`Store`](crate::store::Store)
//! contract states. The decisions are the shared planner's ([`crate::store::plan`]); this
//! file only reads what it needs and writes what it decided.
//!
//! Per batch, not per change: one query finds the change ids processed before, one query per
//! table reads the stored rows. Each touched entity is then written once, with its final
//! state, in multi-row statements per table (see [`super::sql`]), and the processed ids are
//! recorded the same way. The outcomes return only after the commit.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use sqlx::{Connection, SqliteConnection};

use super::Inner;
use super::feed::{SEQ_KEY, read_meta, write_meta};
use super::sql::Chunked;
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
        sql.upsert_rows(tx, &table.live).await?;
        sql.mark_deleted_rows(tx, &table.tombstones).await?;
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

/// The multi-row statements that record processed change ids.
static RECORD: LazyLock<Chunked> = LazyLock::new(|| {
    Chunked::new(
        "INSERT INTO \"_sync_changes\" (\"change_id\", \"kind\", \"version\", \"seq\", \"processed_at\") VALUES ",
        "(?, ?, ?, ?, ?)",
        "",
        5,
    )
});

/// Records the processed change ids with their outcomes, in multi-row statements.
async fn record(
    tx: &mut SqliteConnection,
    records: &[(&str, Recorded)],
    now: Version,
) -> Result<()> {
    let now = now.to_string();
    for (start, count, text) in RECORD.chunks(records.len()) {
        let mut query = sqlx::query(text);
        for (id, recorded) in &records[start..start + count] {
            query = query
                .bind(*id)
                .bind(recorded.kind.as_str())
                .bind(recorded.version.to_string())
                .bind(super::bind::as_i64(recorded.seq))
                .bind(now.as_str());
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}
