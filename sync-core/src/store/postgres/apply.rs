//! Applies a batch of changes in one transaction, as the [`Store`](crate::store::Store)
//! contract states. The decisions are the shared planner's ([`crate::store::plan`]); this
//! file locks the tenant, reads what the planner needs and writes what it decided.
//!
//! The tenant's sequence number is allocated under a row lock on its `_sync_tenants` row,
//! held until commit: a second writer of the same tenant waits there, so sequence numbers
//! become visible in the order they were taken and a follower's cursor never skips one.
//! Per batch, whatever its size: one query for the processed change ids, one per touched
//! table for the stored rows (`= ANY($2)`), one `UNNEST` upsert per table for live rows and
//! one for tombstones, and one statement that inserts the processed ids (`UNNEST`) and stores
//! the new sequence number.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection};

use super::Inner;
use super::bind::{as_i64, fits, id_fits};
use crate::change::Change;
use crate::entity::{Arrival, Handler, Prepared, Role, Write};
use crate::error::Result;
use crate::outcome::{BatchOutcome, Effect, OutcomeKind, Reason, Recorded, Rejection};
use crate::store::plan::{Batch, Plan, Prefetched};
use crate::tenant::TenantId;
use crate::version::Version;

pub(super) async fn apply(
    inner: &Inner,
    tenant: &TenantId,
    changes: &[Change],
    refusals: &[Option<Rejection>],
    arrival: Arrival,
) -> Result<BatchOutcome> {
    let tenant = tenant.as_str();
    let batch = Batch::check(inner.registry(), changes, refusals, arrival, storable);
    let mut connection = inner.pool.acquire().await?;
    // Dropping the transaction unfinished (an error or a cancelled caller) rolls it back.
    let mut tx = connection.begin().await?;
    let Locked { seq, horizon } = lock_tenant(&mut tx, tenant).await?;
    let prefetched = Prefetched {
        processed: processed_before(&mut tx, tenant, &batch.change_ids()).await?,
        stored: stored_states(&mut tx, inner, tenant, &batch.touched()).await?,
        horizon,
    };
    let plan = batch.decide(prefetched, seq);
    write(&mut tx, inner, tenant, &plan).await?;
    record_moves(&mut tx, tenant, &plan).await?;
    record(&mut tx, tenant, &plan, arrival.now).await?;
    tx.commit().await?;
    Ok(BatchOutcome {
        outcomes: plan.outcomes,
        cursor: plan.seq,
        routes: plan.routes,
        principals: plan.principals,
    })
}

/// What [`lock_tenant`] read from the tenant's row.
pub(super) struct Locked {
    /// The tenant's sequence number.
    pub(super) seq: u64,
    /// The tombstone horizon, once a tombstone was purged.
    pub(super) horizon: Option<Version>,
}

/// Locks the tenant's row until commit, creating it if missing, and returns its sequence
/// number and tombstone horizon. Two first writers racing to create the row both end up
/// locking the one row.
pub(super) async fn lock_tenant(tx: &mut PgConnection, tenant: &str) -> Result<Locked> {
    let select =
        "SELECT \"seq\", \"purged_at\" FROM \"_sync_tenants\" WHERE \"tenant\" = $1 FOR UPDATE";
    let locked = |(seq, purged_at): (i64, i64)| Locked {
        seq: u64::try_from(seq).unwrap_or_default(),
        horizon: Some(purged_at)
            .filter(|millis| *millis != 0)
            .and_then(Version::from_millis),
    };
    if let Some(row) = sqlx::query_as::<_, (i64, i64)>(select)
        .bind(tenant)
        .fetch_optional(&mut *tx)
        .await?
    {
        return Ok(locked(row));
    }
    sqlx::query("INSERT INTO \"_sync_tenants\" (\"tenant\") VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query_as::<_, (i64, i64)>(select)
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
    Ok(locked(row))
}

/// PostgreSQL's own limits on what a change may hold, beyond the shared rules: ids of the
/// id column's type, and no NUL character in text.
fn storable(handler: &dyn Handler, change: &Change, prepared: &Prepared) -> Result<(), Rejection> {
    let invalid = |detail: String| Rejection::new(Reason::ValidationError, detail);
    if change.id.contains('\0') {
        return Err(invalid(
            "id: a change id cannot hold a NUL character".to_owned(),
        ));
    }
    let id_type = handler.columns()[handler.position(Role::Id)].sql_type;
    if !id_fits(id_type, &change.entity_id) {
        return Err(invalid(format!(
            "entityId: not a valid {} id",
            id_type.name()
        )));
    }
    if let Write::Upsert { row, .. } = &prepared.write {
        for (column, value) in handler.columns().iter().zip(row) {
            fits(column, value).map_err(invalid)?;
        }
    }
    Ok(())
}

/// The recorded outcomes of the batch's change ids that were processed before.
async fn processed_before(
    tx: &mut PgConnection,
    tenant: &str,
    ids: &[&str],
) -> Result<HashMap<String, Recorded>> {
    let ids: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !id.contains('\0'))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT \"change_id\", \"kind\", \"version\", \"seq\" FROM \"_sync_changes\" \
         WHERE \"tenant\" = $1 AND \"change_id\" = ANY($2::text[])",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut processed = HashMap::with_capacity(rows.len());
    for (change_id, kind, version, seq) in rows {
        let (Ok(version), Ok(seq)) = (Version::try_from_datetime(version), u64::try_from(seq))
        else {
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
    tx: &mut PgConnection,
    inner: &Inner,
    tenant: &str,
    touched: &[(&dyn Handler, Vec<&str>)],
) -> Result<HashMap<(&'static str, String), Effect>> {
    let mut stored = HashMap::new();
    for (handler, ids) in touched {
        let sql = inner.table_sql(*handler);
        let ids: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| id_fits(sql.id_type, id))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let query = sql.bind_ids(sqlx::query(&sql.rows).bind(tenant), &ids);
        for row in &query.fetch_all(&mut *tx).await? {
            let state = sql.effect(*handler, row)?;
            stored.insert((handler.table(), state.entity_id.clone()), state);
        }
    }
    Ok(stored)
}

/// Writes the final state of every entity the batch changed: two statements per table.
async fn write(tx: &mut PgConnection, inner: &Inner, tenant: &str, plan: &Plan<'_>) -> Result<()> {
    for table in &plan.tables {
        let sql = inner.table_sql(table.handler);
        sql.upsert(tx, table.handler, tenant, &table.live).await?;
        sql.mark_deleted(tx, tenant, &table.tombstones).await?;
    }
    Ok(())
}

/// Records the processed change ids with their outcomes and stores the tenant's new
/// sequence number, in one statement. A batch without records changed nothing.
/// Records, in the moves feed, every bucket a row of the batch left: one `UNNEST` insert.
async fn record_moves(tx: &mut PgConnection, tenant: &str, plan: &Plan<'_>) -> Result<()> {
    let moves: Vec<_> = plan
        .routes
        .iter()
        .filter_map(|route| route.left().map(|old| (route, old)))
        .collect();
    if moves.is_empty() {
        return Ok(());
    }
    let streams: Vec<&str> = moves.iter().map(|(route, _)| route.stream).collect();
    let keys: Vec<&str> = moves.iter().map(|(_, old)| *old).collect();
    let seqs: Vec<i64> = moves.iter().map(|(route, _)| as_i64(route.seq)).collect();
    let ids: Vec<&str> = moves
        .iter()
        .map(|(route, _)| route.entity_id.as_str())
        .collect();
    sqlx::query(
        "INSERT INTO \"_sync_moves\" (\"tenant\", \"stream\", \"old_key\", \"seq\", \"entity_id\") \
         SELECT $1::text, u.stream, u.old_key, u.seq, u.id \
         FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[]) AS u(stream, old_key, seq, id)",
    )
    .bind(tenant)
    .bind(streams)
    .bind(keys)
    .bind(seqs)
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn record(tx: &mut PgConnection, tenant: &str, plan: &Plan<'_>, now: Version) -> Result<()> {
    let records = &plan.records;
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = records.iter().map(|(id, _)| *id).collect();
    let kinds: Vec<&str> = records.iter().map(|(_, r)| r.kind.as_str()).collect();
    let versions: Vec<DateTime<Utc>> = records
        .iter()
        .map(|(_, r)| r.version.to_datetime())
        .collect();
    let seqs: Vec<i64> = records.iter().map(|(_, r)| as_i64(r.seq)).collect();
    sqlx::query(
        "WITH recorded AS (\
         INSERT INTO \"_sync_changes\" (\"tenant\", \"change_id\", \"kind\", \"version\", \"seq\", \"processed_at\") \
         SELECT $1::text, u.id, u.kind, u.version, u.seq, $6 \
         FROM UNNEST($2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) AS u(id, kind, version, seq)) \
         UPDATE \"_sync_tenants\" SET \"seq\" = $7 WHERE \"tenant\" = $1 AND $8",
    )
    .bind(tenant)
    .bind(ids)
    .bind(kinds)
    .bind(versions)
    .bind(seqs)
    .bind(now.to_datetime())
    .bind(as_i64(plan.seq))
    .bind(plan.advanced)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
