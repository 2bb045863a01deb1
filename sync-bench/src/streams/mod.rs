//! `streams`: what partial sync costs and saves, against whole-tenant fan-out measured in
//! the same run.
//!
//! Unlike the other scenarios, this one runs the server's core in this process: an
//! `Engine` over a `SqliteStore` in a temporary directory, and real `sync_core::session`
//! `Session`s driven over channels (the transport `sync-axum` adapts to a WebSocket). One
//! reader task per session stands in for its socket. That makes the process's own counters
//! the server's: `key_evaluations()`, `Hub::stream_deliveries()` and its CPU time.
//!
//! Each run has three parts (see `README.md`):
//!
//! 1. **Cost per change** ([`deliver`]): S sessions each subscribed to a distinct bucket of
//!    `payments_by_account`; creates, in-place updates and moves, one at a time, each
//!    counted in key evaluations, stream deliveries and sessions reached. The same changes
//!    against S sessions that subscribe to nothing reach all S.
//! 2. **Delivery and CPU** ([`deliver`]): for those paced changes, the time from the
//!    submit to the last session's arrival at its outbound sink; then a burst, its server
//!    CPU per 1,000 changes.
//! 3. **Catch-up** ([`catch_up`]): a subscription of `held` of `keys` buckets of a tenant of
//!    `rows` rows, against the tenant's full initial load.

mod catch_up;
mod deliver;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::store::sqlite::Synchronous;

use crate::stats::{number, spread};

/// The stream every part subscribes to.
pub(crate) const STREAM: &str = "payments_by_account";

/// Whether a payment is in its account's bucket: drafts are in none (the stream's filter).
fn is_posted(payment: &Payment) -> bool {
    !payment.draft
}

/// The entity of `sync_testkit::entities::Payment`: payments partitioned by account.
#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Payment", table = "payments")]
#[sync(stream(name = "payments_by_account", by = account_id, filter = is_posted))]
pub(crate) struct Payment {
    #[sync(id)]
    id: String,
    #[sync(index)]
    account_id: String,
    amount: i64,
    #[serde(default)]
    draft: bool,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

impl Payment {
    /// Payment `id` in account `account`, versioned `version` milliseconds after a fixed
    /// past instant (so that later versions win and none is clamped as in the future).
    pub(crate) fn new(id: String, account: String, version: i64) -> Payment {
        let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("a fixed instant")
            .with_timezone(&Utc);
        Payment {
            id,
            account_id: account,
            amount: version,
            draft: false,
            updated_at: Some(base + chrono::Duration::milliseconds(version)),
        }
    }
}

/// Options of `streams`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StreamsArgs {
    /// Sessions of each population (S): each partial one holds its own bucket.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) sessions: usize,
    /// Paced changes of each kind (create, update, move) per population.
    #[arg(long, default_value_t = 100)]
    pub(crate) changes: usize,
    /// Milliseconds between paced changes.
    #[arg(long, default_value_t = 5)]
    pub(crate) interval_ms: u64,
    /// Changes of the burst that CPU is measured over (keep it under the hub's queue,
    /// 4,096 messages, or whole-tenant sessions fall behind and are cut off).
    #[arg(long, default_value_t = 1_000)]
    pub(crate) burst: usize,
    /// Rows of the catch-up tenant.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) rows: usize,
    /// Buckets (keys) the catch-up tenant's rows are spread over, evenly.
    #[arg(long, default_value_t = 100)]
    pub(crate) keys: usize,
    /// Buckets the catch-up subscription holds.
    #[arg(long, default_value_t = 10)]
    pub(crate) held: usize,
    /// Runs; the summary gives their median and range.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    /// SQLite's `synchronous` level: off, normal or full.
    #[arg(long, default_value = "full", value_parser = crate::server::parse_synchronous)]
    pub(crate) synchronous: Synchronous,
    /// Also measure the catch-up on PostgreSQL at this URL (schema `sync_bench`, a tenant of
    /// this process's own, deleted afterwards).
    #[arg(long)]
    pub(crate) postgres: Option<String>,
}

/// One figure of the summary, over the runs.
struct Row {
    name: String,
    values: Vec<f64>,
    decimals: usize,
}

fn row(name: impl Into<String>, decimals: usize, values: impl Iterator<Item = f64>) -> Row {
    Row {
        name: name.into(),
        values: values.collect(),
        decimals,
    }
}

/// Runs every part `runs` times, printing each run, then the summary.
pub(crate) async fn run(args: &StreamsArgs) {
    let (mut runs, mut postgres) = (Vec::new(), Vec::new());
    for run in 1..=args.runs.max(1) {
        println!("run {run} of {}", args.runs.max(1));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let delivered = deliver::run(dir.path(), args).await;
        delivered.print(args);
        let caught_up = catch_up::run(dir.path(), args).await;
        caught_up.print("SQLite", args);
        if let Some(url) = &args.postgres {
            let caught_up = catch_up::run_postgres(url, args).await;
            caught_up.print("PostgreSQL", args);
            postgres.push(caught_up);
        }
        runs.push((delivered, caught_up));
    }
    let mut rows = vec![
        row(
            "key evaluations per create",
            2,
            runs.iter().map(|(d, _)| d.partial.evaluations[0]),
        ),
        row(
            "key evaluations per update",
            2,
            runs.iter().map(|(d, _)| d.partial.evaluations[1]),
        ),
        row(
            "key evaluations per move",
            2,
            runs.iter().map(|(d, _)| d.partial.evaluations[2]),
        ),
        row(
            "stream deliveries per update, partial",
            2,
            runs.iter().map(|(d, _)| d.partial.stream_deliveries[1]),
        ),
        row(
            "stream deliveries per move, partial",
            2,
            runs.iter().map(|(d, _)| d.partial.stream_deliveries[2]),
        ),
        row(
            "sessions reached per update, partial",
            2,
            runs.iter().map(|(d, _)| d.partial.reached[1]),
        ),
        row(
            "sessions reached per update, whole tenant",
            0,
            runs.iter().map(|(d, _)| d.whole.reached[1]),
        ),
        row(
            "delivery p50, partial (ms)",
            2,
            runs.iter().map(|(d, _)| d.partial.latency.p50),
        ),
        row(
            "delivery p99, partial (ms)",
            2,
            runs.iter().map(|(d, _)| d.partial.latency.p99),
        ),
        row(
            "delivery p50 to last session, whole tenant (ms)",
            2,
            runs.iter().map(|(d, _)| d.whole.latency.p50),
        ),
        row(
            "delivery p99 to last session, whole tenant (ms)",
            2,
            runs.iter().map(|(d, _)| d.whole.latency.p99),
        ),
        row(
            "submit to commit p99, partial (ms)",
            2,
            runs.iter().map(|(d, _)| d.partial.commit.p99),
        ),
        row(
            "submit to commit p99, whole tenant (ms)",
            2,
            runs.iter().map(|(d, _)| d.whole.commit.p99),
        ),
        row(
            "p99 ratio, whole tenant / partial",
            1,
            runs.iter()
                .map(|(d, _)| d.whole.latency.p99 / d.partial.latency.p99.max(1e-9)),
        ),
        row(
            "server CPU per 1,000 changes, partial (ms)",
            1,
            runs.iter().map(|(d, _)| d.partial.cpu_ms_per_1000),
        ),
        row(
            "server CPU per 1,000 changes, whole tenant (ms)",
            1,
            runs.iter().map(|(d, _)| d.whole.cpu_ms_per_1000),
        ),
        row(
            "CPU ratio, whole tenant / partial",
            1,
            runs.iter()
                .map(|(d, _)| d.whole.cpu_ms_per_1000 / d.partial.cpu_ms_per_1000.max(1e-9)),
        ),
        row(
            "catch-up, bucket_rows (ms)",
            1,
            runs.iter().map(|(_, c)| c.bucket_rows_ms),
        ),
        row(
            "catch-up, bucket_changes from 0 (ms)",
            1,
            runs.iter().map(|(_, c)| c.bucket_changes_ms),
        ),
        row(
            "catch-up, subscribe to checkpoint (ms)",
            1,
            runs.iter().map(|(_, c)| c.subscribe_ms),
        ),
        row(
            "full load, Store::snapshot (ms)",
            1,
            runs.iter().map(|(_, c)| c.snapshot_ms),
        ),
        row(
            "full load, Engine::initial_load (ms)",
            1,
            runs.iter().map(|(_, c)| c.initial_load_ms),
        ),
        row(
            "ratio, initial_load / subscribe",
            1,
            runs.iter()
                .map(|(_, c)| c.initial_load_ms / c.subscribe_ms.max(1e-9)),
        ),
        row(
            "ratio, snapshot / bucket_rows",
            1,
            runs.iter()
                .map(|(_, c)| c.snapshot_ms / c.bucket_rows_ms.max(1e-9)),
        ),
    ];
    if !postgres.is_empty() {
        rows.extend([
            row(
                "PostgreSQL catch-up, bucket_rows (ms)",
                1,
                postgres.iter().map(|c| c.bucket_rows_ms),
            ),
            row(
                "PostgreSQL catch-up, bucket_changes from 0 (ms)",
                1,
                postgres.iter().map(|c| c.bucket_changes_ms),
            ),
            row(
                "PostgreSQL catch-up, subscribe to checkpoint (ms)",
                1,
                postgres.iter().map(|c| c.subscribe_ms),
            ),
            row(
                "PostgreSQL full load, Store::snapshot (ms)",
                1,
                postgres.iter().map(|c| c.snapshot_ms),
            ),
            row(
                "PostgreSQL full load, Engine::initial_load (ms)",
                1,
                postgres.iter().map(|c| c.initial_load_ms),
            ),
            row(
                "PostgreSQL ratio, initial_load / subscribe",
                1,
                postgres
                    .iter()
                    .map(|c| c.initial_load_ms / c.subscribe_ms.max(1e-9)),
            ),
        ]);
    }
    println!(
        "summary of {} runs: {} sessions; catch-up of {} of {} buckets of {} rows; median [min – max]",
        runs.len(),
        number(args.sessions as f64, 0),
        args.held,
        args.keys,
        number(args.rows as f64, 0)
    );
    let width = rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
    for row in &rows {
        let (median, min, max) = spread(&row.values);
        let decimals = row.decimals;
        println!(
            "  {:width$}  {} [{} – {}]",
            row.name,
            number(median, decimals),
            number(min, decimals),
            number(max, decimals)
        );
    }
}
