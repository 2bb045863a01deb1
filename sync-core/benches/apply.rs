//! Store throughput next to raw batched sqlx upserts into the same table.
//!
//! `cargo bench -p sync-core --bench apply` prints, for batches of 1, 100 and 1,000 changes,
//! the median changes per second of `SqliteStore::apply` (last-write-wins, idempotency
//! record, change feed sequence) and of plain `INSERT … ON CONFLICT DO UPDATE` statements in
//! one transaction per batch, on the same generated table, the same `synchronous` level and
//! the same machine, and their ratio. `-- --synchronous normal` compares at NORMAL.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use sync_core::change::Change;
use sync_core::store::Store;
use sync_core::store::ddl::{Dialect, create_table};
use sync_core::store::sqlite::{SqliteStore, Synchronous};
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

/// (batch size, changes per run): enough changes that a run takes a measurable time.
const PLAN: [(usize, usize); 3] = [(1, 400), (100, 20_000), (1_000, 50_000)];
const RUNS: usize = 5;

fn account(run: usize, n: usize) -> Account {
    Account {
        id: format!("r{run}-{n}"),
        name: format!("Account {n}"),
        balance: n as f64 * 1.5,
        note: n.is_multiple_of(3).then(|| "note".to_owned()),
        updated_at: Some(DateTime::from_timestamp_millis(1_767_225_600_000 + n as i64).unwrap()),
    }
}

async fn store_run(store: &SqliteStore, run: usize, batch: usize, total: usize) -> Duration {
    let tenant = TenantId::new(format!("b{batch}-r{run}")).unwrap();
    let changes: Vec<Change> = (0..total)
        .map(|n| Change::upsert(&account(run, n)).unwrap())
        .collect();
    store.cursor(&tenant).await.unwrap(); // open the database outside the timing
    let started = Instant::now();
    for chunk in changes.chunks(batch) {
        store.apply(&tenant, chunk).await.unwrap();
    }
    started.elapsed()
}

async fn raw_run(
    dir: &std::path::Path,
    level: SqliteSynchronous,
    run: usize,
    batch: usize,
    total: usize,
) -> Duration {
    let mut connection = SqliteConnectOptions::new()
        .filename(dir.join(format!("raw-b{batch}-r{run}.db")))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(level)
        .connect()
        .await
        .unwrap();
    for statement in create_table(Dialect::Sqlite, Account::TABLE, Account::COLUMNS) {
        sqlx::query(&statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let rows: Vec<Account> = (0..total).map(|n| account(run, n)).collect();
    let sql = "INSERT INTO accounts (id, name, balance, note, updated_at, _sync_deleted, _sync_seq) \
               VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
               balance = excluded.balance, note = excluded.note, updated_at = excluded.updated_at, \
               _sync_deleted = 0, _sync_seq = excluded._sync_seq";
    let started = Instant::now();
    for (index, chunk) in rows.chunks(batch).enumerate() {
        let mut tx = connection.begin().await.unwrap();
        for (offset, row) in chunk.iter().enumerate() {
            sqlx::query(sql)
                .bind(&row.id)
                .bind(&row.name)
                .bind(row.balance)
                .bind(&row.note)
                .bind(
                    row.updated_at
                        .unwrap()
                        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                        .to_string(),
                )
                .bind((index * batch + offset) as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    started.elapsed()
}

fn median_rate(mut durations: Vec<Duration>, total: usize) -> f64 {
    durations.sort();
    total as f64 / durations[durations.len() / 2].as_secs_f64()
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let normal = std::env::args().any(|arg| arg == "normal");
    let (level, raw_level, label) = if normal {
        (Synchronous::Normal, SqliteSynchronous::Normal, "NORMAL")
    } else {
        (Synchronous::Full, SqliteSynchronous::Full, "FULL")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::builder().entity::<Account>().build().unwrap();
        let store = SqliteStore::builder(dir.path(), registry).synchronous(level).open().await.unwrap();

        println!("sync-core apply vs raw sqlx upserts: SQLite WAL, synchronous={label}, median of {RUNS} runs");
        println!("{:>6} {:>8} {:>16} {:>16} {:>7}", "batch", "changes", "store changes/s", "raw changes/s", "ratio");
        for (batch, total) in PLAN {
            let mut store_times = Vec::new();
            let mut raw_times = Vec::new();
            for run in 0..RUNS {
                store_times.push(store_run(&store, run, batch, total).await);
                raw_times.push(raw_run(dir.path(), raw_level, run, batch, total).await);
            }
            let (store_rate, raw_rate) = (median_rate(store_times, total), median_rate(raw_times, total));
            println!(
                "{batch:>6} {total:>8} {store_rate:>16.0} {raw_rate:>16.0} {:>7.2}",
                store_rate / raw_rate
            );
        }
    });
}
