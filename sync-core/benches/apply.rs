//! Store throughput next to SQLite's physical limit on the same table.
//!
//! `cargo bench -p sync-core --bench apply` prints, for batches of 1, 100 and 1,000 changes,
//! the changes per second of `SqliteStore::apply` (validation, last-write-wins, idempotency
//! record, change feed sequence) and of the physical limit: rusqlite with one cached prepared
//! upsert statement, one transaction per batch, on the same generated table, the same WAL mode
//! and `synchronous` level. Each figure is the median of several runs with the spread
//! (min-max); the ratio is store / limit, the median of the per-run ratios with their spread.
//!
//! Options (after `--`): `--synchronous normal` compares at NORMAL (FULL is the default);
//! `--batch N` measures only batches of N (repeatable); `--runs N` sets the runs per figure
//! (default 5); `--only store` or `--only limit` measures one side (for a profiler);
//! Each side also prints the bytes it wrote to the disk per change (`write_bytes` of
//! `/proc/self/io`: the WAL and the checkpoints), the median over the runs.
//! The change ids are those `Change::upsert` makes (UUID v7, which sort by creation time);
//! `--random-ids` gives random (v4) UUIDs instead, as some clients (the FinWise frontend)
//! make, and `--sequential-ids` ids that sort exactly in the order they are sent, to show
//! what the ids' order costs the index of processed change ids.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
const DEFAULT_RUNS: usize = 5;

fn account(run: usize, n: usize) -> Account {
    Account {
        id: format!("r{run}-{n}"),
        name: format!("Account {n}"),
        balance: n as f64 * 1.5,
        note: n.is_multiple_of(3).then(|| "note".to_owned()),
        updated_at: Some(DateTime::from_timestamp_millis(1_767_225_600_000 + n as i64).unwrap()),
    }
}

/// Which change ids a run's changes carry.
#[derive(Clone, Copy, PartialEq)]
enum Ids {
    /// `Change::upsert`'s own: UUID v7.
    V7,
    /// Random UUID v4.
    Random,
    /// `<run>-<n>`, in sending order.
    Sequential,
}

impl Ids {
    fn label(self) -> &'static str {
        match self {
            Ids::V7 => "UUID v7 (Change::upsert's)",
            Ids::Random => "random (v4 UUIDs)",
            Ids::Sequential => "sequential",
        }
    }
}

async fn store_run(
    store: &SqliteStore,
    ids: Ids,
    run: usize,
    batch: usize,
    total: usize,
) -> Duration {
    let tenant = TenantId::new(format!("b{batch}-r{run}")).unwrap();
    let changes: Vec<Change> = (0..total)
        .map(|n| {
            let change = Change::upsert(&account(run, n)).unwrap();
            match ids {
                Ids::V7 => change,
                Ids::Random => change.with_id(uuid::Uuid::new_v4().to_string()),
                Ids::Sequential => change.with_id(format!("{run:04}-{n:012}")),
            }
        })
        .collect();
    store.cursor(&tenant).await.unwrap(); // open the database outside the timing
    let started = Instant::now();
    for chunk in changes.chunks(batch) {
        store.apply(&tenant, chunk).await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(store.cursor(&tenant).await.unwrap(), total as u64);
    elapsed
}

/// SQLite's physical limit for these upserts: one cached prepared statement, one
/// transaction per batch, the store's pragmas.
fn limit_run(
    dir: &std::path::Path,
    normal: bool,
    run: usize,
    batch: usize,
    total: usize,
) -> Duration {
    let connection =
        rusqlite::Connection::open(dir.join(format!("limit-b{batch}-r{run}.db"))).unwrap();
    let synchronous = if normal { "NORMAL" } else { "FULL" };
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF;"
        ))
        .unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    for statement in create_table(Dialect::Sqlite, Account::TABLE, Account::COLUMNS) {
        connection.execute_batch(&statement).unwrap();
    }
    let rows: Vec<Account> = (0..total).map(|n| account(run, n)).collect();
    let sql = "INSERT INTO accounts (id, name, balance, note, updated_at, _sync_deleted, _sync_seq) \
               VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
               balance = excluded.balance, note = excluded.note, updated_at = excluded.updated_at, \
               _sync_deleted = 0, _sync_seq = excluded._sync_seq";
    let mut connection = connection;
    let started = Instant::now();
    for (index, chunk) in rows.chunks(batch).enumerate() {
        let tx = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut statement = tx.prepare_cached(sql).unwrap();
            for (offset, row) in chunk.iter().enumerate() {
                let updated_at = row
                    .updated_at
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string();
                statement
                    .execute(rusqlite::params![
                        row.id,
                        row.name,
                        row.balance,
                        row.note,
                        updated_at,
                        (index * batch + offset + 1) as i64
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    started.elapsed()
}

/// The bytes this process has caused to be written to storage (`/proc/self/io`), 0 where
/// the kernel does not say.
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|line| line.strip_prefix("write_bytes:"))
                .and_then(|value| value.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The median and the spread (min, max) of `values`.
fn summary(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

struct Options {
    normal: bool,
    batches: Vec<usize>,
    runs: usize,
    store: bool,
    limit: bool,
    ids: Ids,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |index: usize| args.get(index + 1).map(String::as_str).unwrap_or("");
    let mut options = Options {
        normal: false,
        batches: Vec::new(),
        runs: DEFAULT_RUNS,
        store: true,
        limit: true,
        ids: Ids::V7,
    };
    for (index, arg) in args.iter().enumerate() {
        match arg.as_str() {
            "--synchronous" => options.normal = value(index).eq_ignore_ascii_case("normal"),
            "--batch" => options
                .batches
                .push(value(index).parse().expect("--batch N")),
            "--runs" => options.runs = value(index).parse::<usize>().expect("--runs N").max(1),
            "--sequential-ids" => options.ids = Ids::Sequential,
            "--random-ids" => options.ids = Ids::Random,
            "--only" => match value(index) {
                "store" => options.limit = false,
                "limit" => options.store = false,
                other => panic!("--only store|limit, not {other:?}"),
            },
            _ => {}
        }
    }
    options
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let options = options();
    let (level, label) = if options.normal {
        (Synchronous::Normal, "NORMAL")
    } else {
        (Synchronous::Full, "FULL")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::builder().entity::<Account>().build().unwrap();
        let store = SqliteStore::builder(dir.path(), registry)
            .synchronous(level)
            .open()
            .await
            .unwrap();

        println!(
            "SqliteStore::apply vs the physical limit (rusqlite, cached prepared upsert, one \
             transaction per batch): WAL, synchronous={label}, change ids {}, median (min-max) \
             of {} runs",
            options.ids.label(),
            options.runs
        );
        println!(
            "{:>6} {:>8} {:>28} {:>28} {:>18} {:>14} {:>14}",
            "batch",
            "changes",
            "store changes/s",
            "limit rows/s",
            "ratio",
            "store B/change",
            "limit B/row"
        );
        let plan = PLAN
            .iter()
            .filter(|(batch, _)| options.batches.is_empty() || options.batches.contains(batch));
        for &(batch, total) in plan {
            let (mut stores, mut limits, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let (mut store_bytes, mut limit_bytes) = (Vec::new(), Vec::new());
            for run in 0..options.runs {
                let store_rate = if options.store {
                    let before = written_bytes();
                    let elapsed = store_run(&store, options.ids, run, batch, total).await;
                    store_bytes.push((written_bytes() - before) as f64 / total as f64);
                    total as f64 / elapsed.as_secs_f64()
                } else {
                    store_bytes.push(f64::NAN);
                    f64::NAN
                };
                let limit_rate = if options.limit {
                    let before = written_bytes();
                    let elapsed = limit_run(dir.path(), options.normal, run, batch, total);
                    limit_bytes.push((written_bytes() - before) as f64 / total as f64);
                    total as f64 / elapsed.as_secs_f64()
                } else {
                    limit_bytes.push(f64::NAN);
                    f64::NAN
                };
                stores.push(store_rate);
                limits.push(limit_rate);
                ratios.push(store_rate / limit_rate);
            }
            let show =
                |(median, min, max): (f64, f64, f64)| format!("{median:.0} ({min:.0}-{max:.0})");
            let (ratio, ratio_min, ratio_max) = summary(ratios);
            println!(
                "{batch:>6} {total:>8} {:>28} {:>28} {:>18} {:>14.0} {:>14.0}",
                show(summary(stores)),
                show(summary(limits)),
                format!("{ratio:.2} ({ratio_min:.2}-{ratio_max:.2})"),
                summary(store_bytes).0,
                summary(limit_bytes).0
            );
        }
    });
}
