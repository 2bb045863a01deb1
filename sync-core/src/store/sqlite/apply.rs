//! Applies a batch of changes in one transaction, as the [`Store`](crate::store::Store)
//! contract states. The decisions are the shared planner's ([`crate::store::plan`]); this
//! file only reads what it needs and writes what it decided.
//!
//! The whole batch is one closure on the tenant's write connection ([`super::writer`]):
//! at most one hand-off between threads, then every statement is a cached prepared statement
//! executed in place. Per change, the processed change id and the stored state are looked
//! up by key; each touched entity is then written once, with its final state, in multi-row
//! statements per table (see [`super::sql`]), and the processed ids are recorded the same
//! way. The outcomes return only after the commit.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use rusqlite::{Connection, OptionalExtension};

use super::Inner;
use super::bind::{as_i64, read_ref};
use super::sql::Chunked;
use super::tenants::TenantDb;
use super::writer::begin;
use crate::change::Change;
use crate::entity::{Arrival, Handler};
use crate::error::Result;
use crate::outcome::{BatchOutcome, Effect, OutcomeKind, Recorded, Rejection};
use crate::store::plan::{Batch, Plan, Prefetched};
use crate::version::Version;

pub(super) async fn apply(
    db: &TenantDb,
    inner: &Arc<Inner>,
    changes: &[Change],
    refusals: &[Option<Rejection>],
    arrival: Arrival,
) -> Result<BatchOutcome> {
    if let Some(done) = db
        .writer
        .run_in_place(|connection| apply_batch(connection, inner, changes, refusals, arrival))
    {
        return done;
    }
    let inner = inner.clone();
    // The blocking pool needs its own copy of the batch.
    let changes = changes.to_vec();
    let refusals = refusals.to_vec();
    db.writer
        .run(move |connection| apply_batch(connection, &inner, &changes, &refusals, arrival))
        .await
}

fn apply_batch(
    connection: &mut Connection,
    inner: &Inner,
    changes: &[Change],
    refusals: &[Option<Rejection>],
    arrival: Arrival,
) -> Result<BatchOutcome> {
    let batch = Batch::check(inner.registry(), changes, refusals, arrival, |_, _, _| {
        Ok(())
    });
    // Dropping the transaction unfinished (an error) rolls it back.
    let tx = begin(connection)?;
    let seq = read_meta(&tx, SEQ_KEY)?;
    let prefetched = Prefetched {
        processed: processed_before(&tx, &batch.change_ids())?,
        stored: stored_states(&tx, inner, &batch.touched())?,
        horizon: read_horizon(&tx)?,
    };
    let plan = batch.decide(prefetched, seq);
    write(&tx, inner, &plan)?;
    record_moves(&tx, &plan)?;
    record(&tx, &plan.records, arrival.now)?;
    if plan.advanced {
        write_meta(&tx, SEQ_KEY, plan.seq)?;
    }
    tx.commit()?;
    Ok(BatchOutcome {
        outcomes: plan.outcomes,
        cursor: plan.seq,
        routes: plan.routes,
        principals: plan.principals,
    })
}

/// The meta key of the tenant's latest sequence number.
pub(super) const SEQ_KEY: &str = super::feed::SEQ_KEY;

/// A value of `_sync_meta`.
pub(super) fn read_meta(connection: &Connection, key: &str) -> Result<u64> {
    let value: i64 = connection
        .prepare_cached("SELECT \"value\" FROM \"_sync_meta\" WHERE \"key\" = ?")?
        .query_row([key], |row| row.get(0))?;
    Ok(u64::try_from(value).unwrap_or_default())
}

/// The meta key of the tombstone horizon: milliseconds since the epoch, 0 while no
/// tombstone was purged.
pub(super) const HORIZON_KEY: &str = "purged_at";

/// The tenant's tombstone horizon: every purged tombstone had an older version.
pub(super) fn read_horizon(connection: &Connection) -> Result<Option<Version>> {
    let millis: Option<i64> = connection
        .prepare_cached("SELECT \"value\" FROM \"_sync_meta\" WHERE \"key\" = ?")?
        .query_row([HORIZON_KEY], |row| row.get(0))
        .optional()?;
    Ok(millis
        .filter(|millis| *millis != 0)
        .and_then(Version::from_millis))
}

/// Moves the tombstone horizon to `horizon` unless it is further already.
pub(super) fn raise_horizon(connection: &Connection, horizon: Version) -> Result<()> {
    if read_horizon(connection)?.is_some_and(|known| known >= horizon) {
        return Ok(());
    }
    connection
        .prepare_cached("UPDATE \"_sync_meta\" SET \"value\" = ? WHERE \"key\" = ?")?
        .execute(rusqlite::params![horizon.as_millis(), HORIZON_KEY])?;
    Ok(())
}

/// Sets a value of `_sync_meta`.
pub(super) fn write_meta(connection: &Connection, key: &str, value: u64) -> Result<()> {
    connection
        .prepare_cached("UPDATE \"_sync_meta\" SET \"value\" = ? WHERE \"key\" = ?")?
        .execute(rusqlite::params![as_i64(value), key])?;
    Ok(())
}

/// Writes the final state of every entity the batch changed.
fn write(connection: &Connection, inner: &Inner, plan: &Plan<'_>) -> Result<()> {
    for table in &plan.tables {
        let sql = inner.table_sql(table.handler);
        sql.write_live(connection, &table.live)?;
        sql.write_tombstones(connection, &table.tombstones)?;
    }
    Ok(())
}

/// The recorded outcomes of the batch's change ids that were processed before.
fn processed_before(connection: &Connection, ids: &[&str]) -> Result<HashMap<String, Recorded>> {
    let mut processed = HashMap::new();
    let mut statement = connection.prepare_cached(
        "SELECT \"kind\", \"version\", \"seq\" FROM \"_sync_changes\" WHERE \"change_id\" = ?",
    )?;
    for id in ids {
        let found = statement
            .query_row([id], |row| {
                Ok((
                    row.get::<_, String>(0)? == "superseded",
                    Version::parse(&row.get::<_, String>(1)?).ok(),
                    u64::try_from(row.get::<_, i64>(2)?).ok(),
                ))
            })
            .optional()?;
        let Some((superseded, Some(version), Some(seq))) = found else {
            continue;
        };
        let kind = if superseded {
            OutcomeKind::Superseded
        } else {
            OutcomeKind::Applied
        };
        processed.insert((*id).to_owned(), Recorded { kind, version, seq });
    }
    Ok(processed)
}

/// The stored states, live or tombstone, of the entities the batch touches.
fn stored_states(
    connection: &Connection,
    inner: &Inner,
    touched: &[(&dyn Handler, Vec<&str>)],
) -> Result<HashMap<(&'static str, String), Effect>> {
    let mut stored = HashMap::new();
    for (handler, ids) in touched {
        let sql = inner.table_sql(*handler);
        let columns = handler.columns();
        let mut statement = connection.prepare_cached(&sql.row)?;
        for id in ids {
            let mut rows = statement.query([id])?;
            let Some(row) = rows.next()? else {
                continue;
            };
            let mut values = Vec::with_capacity(columns.len());
            for (index, column) in columns.iter().enumerate() {
                values.push(read_ref(row, index, column)?);
            }
            let deleted: bool = row.get(columns.len())?;
            let seq: i64 = row.get(columns.len() + 1)?;
            let state = crate::store::row::stored_effect(*handler, values, deleted, seq)?;
            if state.entity_id == *id {
                stored.insert((handler.table(), state.entity_id.clone()), state);
            }
        }
    }
    Ok(stored)
}

/// Records, in the moves feed, every bucket a row of the batch left.
fn record_moves(connection: &Connection, plan: &Plan<'_>) -> Result<()> {
    let mut statement = None;
    for route in &plan.routes {
        let Some(old) = route.left() else { continue };
        let statement = match &mut statement {
            Some(statement) => statement,
            None => statement.insert(connection.prepare_cached(
                "INSERT INTO \"_sync_moves\" (\"stream\", \"old_key\", \"seq\", \"entity_id\") VALUES (?, ?, ?, ?)",
            )?),
        };
        statement.execute(rusqlite::params![
            route.stream,
            old,
            as_i64(route.seq),
            route.entity_id
        ])?;
    }
    Ok(())
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
fn record(connection: &Connection, records: &[(&str, Recorded)], now: Version) -> Result<()> {
    let now = now.canonical();
    for (start, count, text) in RECORD.chunks(records.len()) {
        let mut statement = connection.prepare_cached(text)?;
        let mut index = 0;
        for (id, recorded) in &records[start..start + count] {
            let version = recorded.version.canonical();
            statement.raw_bind_parameter(index + 1, *id)?;
            statement.raw_bind_parameter(index + 2, recorded.kind.as_str())?;
            statement.raw_bind_parameter(index + 3, version.as_str())?;
            statement.raw_bind_parameter(index + 4, as_i64(recorded.seq))?;
            statement.raw_bind_parameter(index + 5, now.as_str())?;
            index += 5;
        }
        statement.raw_execute()?;
    }
    Ok(())
}
