//! Applies a batch of changes in one transaction: idempotency, last-write-wins, tombstones
//! and sequence numbers, as the [`Store`](crate::store::Store) contract states.

use sqlx::{Connection, Row, SqliteConnection};

use super::Inner;
use super::bind::bind_value;
use super::feed::{SEQ_KEY, read_meta, write_meta};
use super::tenants::TenantDb;
use crate::change::{Change, MAX_CHANGE_ID_LEN};
use crate::entity::{Arrival, Prepared, Write};
use crate::error::Result;
use crate::lww::{self, Decision};
use crate::outcome::{BatchOutcome, Effect, Outcome, OutcomeKind, Reason, Recorded, Rejection};
use crate::version::Version;

pub(super) async fn apply(
    db: &TenantDb,
    inner: &Inner,
    changes: &[Change],
    arrival: Arrival,
) -> Result<BatchOutcome> {
    let mut writer = db.writer.lock().await;
    // IMMEDIATE takes the write lock up front, so reads inside see what the writes replace.
    // Dropping the transaction unfinished (an error or a cancelled caller) rolls it back.
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut seq = read_meta(&mut tx, SEQ_KEY).await?;
    let first_seq = seq;
    let mut outcomes = Vec::with_capacity(changes.len());
    for change in changes {
        outcomes.push(apply_one(&mut tx, inner, change, arrival, &mut seq).await?);
    }
    if seq != first_seq {
        write_meta(&mut tx, SEQ_KEY, seq).await?;
    }
    tx.commit().await?;
    Ok(BatchOutcome {
        outcomes,
        cursor: seq,
    })
}

async fn apply_one(
    tx: &mut SqliteConnection,
    inner: &Inner,
    change: &Change,
    arrival: Arrival,
    seq: &mut u64,
) -> Result<Outcome> {
    if change.id.is_empty() || change.id.len() > MAX_CHANGE_ID_LEN {
        return Ok(Outcome::Rejected(Rejection::new(
            Reason::ValidationError,
            format!("id: a change id has 1 to {MAX_CHANGE_ID_LEN} bytes"),
        )));
    }
    if let Some(original) = processed(tx, &change.id).await? {
        return Ok(Outcome::Duplicate { original });
    }
    let Some(handler) = inner.registry.get(&change.entity_type) else {
        return Ok(Outcome::Rejected(unknown_entity(
            inner,
            &change.entity_type,
        )));
    };
    let Prepared {
        version,
        clamped,
        write,
    } = match handler.prepare(change, arrival) {
        Ok(prepared) => prepared,
        Err(rejection) => return Ok(Outcome::Rejected(rejection)),
    };
    let sql = inner.table_sql(handler.table());
    let stored: Option<String> = sqlx::query(&sql.state)
        .bind(&change.entity_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    let stored = stored.and_then(|text| Version::parse(&text).ok());

    let outcome = match lww::decide(version, stored) {
        Decision::Apply => {
            *seq += 1;
            let deleted = matches!(write, Write::Delete);
            let data = match write {
                Write::Upsert { row, data } => {
                    let mut query = sqlx::query(&sql.upsert);
                    for value in &row {
                        query = bind_value(query, value);
                    }
                    query.bind(as_i64(*seq)).execute(&mut *tx).await?;
                    data
                }
                Write::Delete => {
                    sqlx::query(&sql.delete)
                        .bind(&change.entity_id)
                        .bind(version.to_string())
                        .bind(as_i64(*seq))
                        .execute(&mut *tx)
                        .await?;
                    handler.tombstone_json(&change.entity_id, version)
                }
            };
            let effect = Effect {
                entity_type: handler.entity(),
                collection: handler.collection(),
                entity_id: change.entity_id.clone(),
                deleted,
                version,
                seq: *seq,
                data,
            };
            Outcome::Applied { effect, clamped }
        }
        Decision::Supersede => {
            let winner = super::feed::load_state(&mut *tx, inner, handler, &change.entity_id)
                .await?
                .expect("a superseding version was just read in this transaction");
            Outcome::Superseded { winner, clamped }
        }
    };
    record(tx, &change.id, &outcome, *seq, arrival.now).await?;
    Ok(outcome)
}

fn unknown_entity(inner: &Inner, entity_type: &str) -> Rejection {
    let known: Vec<&str> = inner
        .registry
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

async fn processed(tx: &mut SqliteConnection, change_id: &str) -> Result<Option<Recorded>> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT \"kind\", \"version\", \"seq\" FROM \"_sync_changes\" WHERE \"change_id\" = ?",
    )
    .bind(change_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.and_then(|(kind, version, seq)| {
        Some(Recorded {
            kind: if kind == "superseded" {
                OutcomeKind::Superseded
            } else {
                OutcomeKind::Applied
            },
            version: Version::parse(&version).ok()?,
            seq: u64::try_from(seq).ok()?,
        })
    }))
}

async fn record(
    tx: &mut SqliteConnection,
    change_id: &str,
    outcome: &Outcome,
    seq: u64,
    now: Version,
) -> Result<()> {
    let (Some(kind), Some(version)) = (outcome.kind(), outcome.stored_version()) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO \"_sync_changes\" (\"change_id\", \"kind\", \"version\", \"seq\", \"processed_at\") \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(change_id)
    .bind(kind.as_str())
    .bind(version.to_string())
    .bind(as_i64(seq))
    .bind(now.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) fn as_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
