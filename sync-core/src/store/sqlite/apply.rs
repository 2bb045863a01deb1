//! Applies a batch of changes in one transaction: idempotency, last-write-wins, tombstones
//! and sequence numbers, as the [`Store`](crate::store::Store) contract states.
//!
//! Per batch, not per change: one query finds the change ids processed before, one query per
//! table reads the stored versions, and one statement records the processed ids. Per change
//! there is only its write. The decisions are made in order against an in-memory view that
//! each write updates, so a batch that touches one entity twice is decided as if the changes
//! came one by one.

use std::collections::{HashMap, HashSet};

use sqlx::{Connection, SqliteConnection};

use super::Inner;
use super::feed::{SEQ_KEY, read_meta, write_meta};
use super::tenants::TenantDb;
use crate::change::{Change, MAX_CHANGE_ID_LEN};
use crate::entity::{Arrival, Handler, Prepared, Write};
use crate::error::Result;
use crate::lww::{self, Decision};
use crate::outcome::{BatchOutcome, Effect, Outcome, OutcomeKind, Reason, Recorded, Rejection};
use crate::version::Version;

/// A change that passed validation and waits for its decision.
struct Ready<'a> {
    change: &'a Change,
    handler: &'a dyn Handler,
    prepared: Prepared,
}

pub(super) async fn apply(
    db: &TenantDb,
    inner: &Inner,
    changes: &[Change],
    arrival: Arrival,
) -> Result<BatchOutcome> {
    let checked: Vec<Result<Ready<'_>, Rejection>> = changes
        .iter()
        .map(|change| check(inner, change, arrival))
        .collect();

    let mut writer = db.writer.lock().await;
    // IMMEDIATE takes the write lock up front, so reads inside see what the writes replace.
    // Dropping the transaction unfinished (an error or a cancelled caller) rolls it back.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut seq = read_meta(&mut tx, SEQ_KEY).await?;
    let first_seq = seq;
    let mut processed = processed_before(&mut tx, changes).await?;
    let mut stored = stored_versions(&mut tx, inner, &checked).await?;
    let mut records = Vec::new();

    let mut outcomes = Vec::with_capacity(changes.len());
    for (change, checked) in changes.iter().zip(checked) {
        if let Some(original) = processed.get(change.id.as_str()) {
            outcomes.push(Outcome::Duplicate {
                original: *original,
            });
            continue;
        }
        let ready = match checked {
            Ok(ready) => ready,
            Err(rejection) => {
                outcomes.push(Outcome::Rejected(rejection));
                continue;
            }
        };
        let key = (ready.handler.table(), change.entity_id.as_str());
        let (version, clamped) = (ready.prepared.version, ready.prepared.clamped);
        let outcome = match lww::decide(version, stored.get(&key).copied()) {
            Decision::Apply => {
                seq += 1;
                stored.insert(key, version);
                let effect = write(&mut tx, inner, ready, seq).await?;
                Outcome::Applied { effect, clamped }
            }
            Decision::Supersede => {
                let winner = inner
                    .table_sql(ready.handler)
                    .load(ready.handler, &mut tx, &change.entity_id)
                    .await?
                    .expect("a stored version was read in this transaction");
                Outcome::Superseded { winner, clamped }
            }
        };
        let recorded = Recorded {
            kind: outcome.kind().expect("applied or superseded"),
            version: outcome.stored_version().expect("applied or superseded"),
            seq,
        };
        processed.insert(change.id.as_str(), recorded);
        records.push((change.id.as_str(), recorded));
        outcomes.push(outcome);
    }

    record(&mut tx, &records, arrival.now).await?;
    if seq != first_seq {
        write_meta(&mut tx, SEQ_KEY, seq).await?;
    }
    tx.commit().await?;
    Ok(BatchOutcome {
        outcomes,
        cursor: seq,
    })
}

/// Validates one change without touching the database.
fn check<'a>(
    inner: &'a Inner,
    change: &'a Change,
    arrival: Arrival,
) -> Result<Ready<'a>, Rejection> {
    if change.id.is_empty() || change.id.len() > MAX_CHANGE_ID_LEN {
        return Err(Rejection::new(
            Reason::ValidationError,
            format!("id: a change id has 1 to {MAX_CHANGE_ID_LEN} bytes"),
        ));
    }
    let handler = inner
        .registry()
        .get(&change.entity_type)
        .ok_or_else(|| unknown_entity(inner, &change.entity_type))?;
    let prepared = handler.prepare(change, arrival)?;
    Ok(Ready {
        change,
        handler,
        prepared,
    })
}

/// Writes a winning change and returns the state it leaves.
async fn write(
    tx: &mut SqliteConnection,
    inner: &Inner,
    ready: Ready<'_>,
    seq: u64,
) -> Result<Effect> {
    let Ready {
        change,
        handler,
        prepared,
    } = ready;
    let sql = inner.table_sql(handler);
    let (deleted, data) = match prepared.write {
        Write::Upsert { row, data } => {
            sql.upsert(tx, &row, seq).await?;
            (false, data)
        }
        Write::Delete => {
            sql.mark_deleted(tx, &change.entity_id, prepared.version, seq)
                .await?;
            (
                true,
                handler.tombstone_json(&change.entity_id, prepared.version),
            )
        }
    };
    Ok(Effect {
        entity_type: handler.entity(),
        collection: handler.collection(),
        entity_id: change.entity_id.clone(),
        deleted,
        version: prepared.version,
        seq,
        data,
    })
}

fn unknown_entity(inner: &Inner, entity_type: &str) -> Rejection {
    let known: Vec<&str> = inner
        .registry()
        .iter()
        .map(|handler| handler.entity())
        .collect();
    Rejection::new(
        Reason::UnknownEntity,
        format!(
            "entityType {:?} is not registered; known: {}",
            entity_type.chars().take(64).collect::<String>(),
            known.join(", ")
        ),
    )
}

/// The recorded outcomes of the batch's change ids that were processed before.
async fn processed_before<'a>(
    tx: &mut SqliteConnection,
    changes: &'a [Change],
) -> Result<HashMap<&'a str, Recorded>> {
    let ids: HashSet<&str> = changes.iter().map(|change| change.id.as_str()).collect();
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT \"change_id\", \"kind\", \"version\", \"seq\" FROM \"_sync_changes\" \
         WHERE \"change_id\" IN (SELECT value FROM json_each(?))",
    )
    .bind(serde_json::to_string(&ids).unwrap_or_default())
    .fetch_all(&mut *tx)
    .await?;
    let mut processed = HashMap::with_capacity(rows.len());
    for (change_id, kind, version, seq) in rows {
        let (Some(change_id), Ok(version), Ok(seq)) = (
            ids.get(change_id.as_str()),
            Version::parse(&version),
            u64::try_from(seq),
        ) else {
            continue;
        };
        let kind = if kind == "superseded" {
            OutcomeKind::Superseded
        } else {
            OutcomeKind::Applied
        };
        processed.insert(*change_id, Recorded { kind, version, seq });
    }
    Ok(processed)
}

/// The stored versions, live or tombstone, of every entity the valid changes touch.
async fn stored_versions<'a>(
    tx: &mut SqliteConnection,
    inner: &Inner,
    checked: &[Result<Ready<'a>, Rejection>],
) -> Result<HashMap<(&'static str, &'a str), Version>> {
    let mut ids_by_table: HashMap<&'static str, (&'a dyn Handler, HashSet<&'a str>)> =
        HashMap::new();
    for ready in checked.iter().flatten() {
        ids_by_table
            .entry(ready.handler.table())
            .or_insert_with(|| (ready.handler, HashSet::new()))
            .1
            .insert(ready.change.entity_id.as_str());
    }
    let mut stored = HashMap::new();
    for (table, (handler, ids)) in ids_by_table {
        let rows: Vec<(String, String)> = sqlx::query_as(&inner.table_sql(handler).versions)
            .bind(serde_json::to_string(&ids).unwrap_or_default())
            .fetch_all(&mut *tx)
            .await?;
        for (id, version) in rows {
            if let (Some(id), Ok(version)) = (ids.get(id.as_str()), Version::parse(&version)) {
                stored.insert((table, *id), version);
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
