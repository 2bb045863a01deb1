//! PostgresStore throughput next to a raw set-based upsert of the same rows into the same
//! table.
//!
//! `cargo bench -p sync-core --features postgres --bench postgres_apply` prints, for batches
//! of 1, 100 and 1,000 changes, the changes per second of `PostgresStore::apply`
//! (last-write-wins against the stored rows, idempotency record, the tenant's sequence under
//! its row lock) and the rows per second of one `INSERT … SELECT FROM UNNEST(…) ON CONFLICT
//! DO UPDATE` per batch in its own transaction, into the same shared table, through the
//! store's own pool (same connection settings), and their ratio: medians of several rounds
//! with the spread (min–max). The database is `SYNC_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); everything happens in a fresh schema that
//! is dropped at the end.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::change::Change;
use sync_core::store::Store;
use sync_core::store::postgres::PostgresStore;
use sync_core::{Registry, Syncable, TenantId};

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    name: String,
    balance: f64,
    note: Option<String>,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

/// (batch size, changes per round): enough changes that a round takes a measurable time.
const PLAN: [(usize, usize); 3] = [(1, 500), (100, 10_000), (1_000, 30_000)];
const ROUNDS: usize = 5;

fn account(round: usize, n: usize) -> Account {
    Account {
        id: format!("r{round}-{n}"),
        name: format!("Account {n}"),
        balance: n as f64 * 1.5,
        note: n.is_multiple_of(3).then(|| "note".to_owned()),
        updated_at: Some(DateTime::from_timestamp_millis(1_767_225_600_000 + n as i64).unwrap()),
    }
}

async fn store_round(store: &PostgresStore, round: usize, batch: usize, total: usize) -> Duration {
    let tenant = TenantId::new(format!("store-b{batch}-r{round}")).unwrap();
    let changes: Vec<Change> = (0..total)
        .map(|n| Change::upsert(&account(round, n)).unwrap())
        .collect();
    let started = Instant::now();
    for chunk in changes.chunks(batch) {
        store.apply(&tenant, chunk).await.unwrap();
    }
    started.elapsed()
}

async fn raw_round(store: &PostgresStore, round: usize, batch: usize, total: usize) -> Duration {
    let tenant = format!("raw-b{batch}-r{round}");
    let rows: Vec<Account> = (0..total).map(|n| account(round, n)).collect();
    let sql = "INSERT INTO accounts (_sync_tenant, id, name, balance, note, updated_at, _sync_deleted, _sync_seq) \
               SELECT $1, u.id, u.name, u.balance, u.note, u.updated_at, FALSE, u.seq \
               FROM UNNEST($2::text[], $3::text[], $4::float8[], $5::text[], $6::timestamptz[], $7::bigint[]) \
               AS u(id, name, balance, note, updated_at, seq) \
               ON CONFLICT (_sync_tenant, id) DO UPDATE SET name = EXCLUDED.name, \
               balance = EXCLUDED.balance, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at, \
               _sync_deleted = FALSE, _sync_seq = EXCLUDED._sync_seq";
    let started = Instant::now();
    for (index, chunk) in rows.chunks(batch).enumerate() {
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(sql)
            .bind(&tenant)
            .bind(chunk.iter().map(|row| row.id.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|row| row.name.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|row| row.balance).collect::<Vec<_>>())
            .bind(chunk.iter().map(|row| row.note.clone()).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|row| row.updated_at.unwrap())
                    .collect::<Vec<_>>(),
            )
            .bind(
                (0..chunk.len())
                    .map(|offset| (index * batch + offset) as i64)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    started.elapsed()
}

/// (median, min, max) per second of `total` items over `durations`.
fn rates(durations: &[Duration], total: usize) -> (f64, f64, f64) {
    let mut rates: Vec<f64> = durations
        .iter()
        .map(|duration| total as f64 / duration.as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() / 2], rates[0], rates[rates.len() - 1])
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let url = std::env::var("SYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let registry = Registry::builder().entity::<Account>().build().unwrap();
        let store = PostgresStore::builder(&url, registry)
            .schema(&schema)
            .max_connections(2)
            .connect()
            .await
            .unwrap_or_else(|error| panic!("{error}; start PostgreSQL or set SYNC_TEST_DATABASE_URL"));

        println!("PostgresStore::apply vs a raw UNNEST upsert per batch: same table, same pool, median (min-max) of {ROUNDS} rounds");
        println!(
            "{:>6} {:>8} {:>28} {:>28} {:>18}",
            "batch", "changes", "store changes/s", "raw rows/s", "ratio"
        );
        for (batch, total) in PLAN {
            let (mut store_times, mut raw_times) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                store_times.push(store_round(&store, round, batch, total).await);
                raw_times.push(raw_round(&store, round, batch, total).await);
            }
            let ratios: Vec<Duration> = store_times
                .iter()
                .zip(&raw_times)
                .map(|(store, raw)| Duration::from_secs_f64(store.as_secs_f64() / raw.as_secs_f64()))
                .collect();
            let (store_rate, store_min, store_max) = rates(&store_times, total);
            let (raw_rate, raw_min, raw_max) = rates(&raw_times, total);
            // A ratio per round (store rate / raw rate = raw time / store time).
            let (ratio, ratio_min, ratio_max) = rates(&ratios, 1);
            println!(
                "{batch:>6} {total:>8} {:>28} {:>28} {:>18}",
                format!("{store_rate:.0} ({store_min:.0}-{store_max:.0})"),
                format!("{raw_rate:.0} ({raw_min:.0}-{raw_max:.0})"),
                format!("{ratio:.2} ({ratio_min:.2}-{ratio_max:.2})"),
            );
        }
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(store.pool())
            .await
            .unwrap();
    });
}
