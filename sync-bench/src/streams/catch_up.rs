//! Part 3 of `streams`: the catch-up of a subscription holding `held` of `keys` buckets of a
//! tenant of `rows` rows, against the tenant's full initial load, on one SQLite store and,
//! with `--postgres URL`, on PostgreSQL too.
//!
//! The tenant is written through the engine in batches of 1,000 (`rows / keys` payments per
//! account `acct-0` … `acct-<keys - 1>`). Then, in this order, each timed alone (the whole
//! sequence runs twice and the second pass is kept, so that each reads a warm page cache):
//!
//! - `catch_up::bucket_rows` of each held key in turn (what a first subscribe loads);
//! - `catch_up::bucket_changes` from cursor 0 of each held key in turn;
//! - a real subscribe to the held keys, in a [`Session`](sync_core::session::Session) over
//!   channels: from sending `subscribe` to receiving the subscription's `checkpoint`, its
//!   frames serialised and passed through the session's outbound channel;
//! - `Store::snapshot` of the tenant;
//! - `Engine::initial_load` of the tenant (the `initial_data_load` frame, serialised).

use std::path::Path;
use std::time::Instant;

use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::store::catch_up::{bucket_changes, bucket_rows};
use sync_core::store::postgres::PostgresStore;
use sync_core::{Change, Store, TenantId};

use super::deliver::{self, Client};
use super::{Payment, STREAM, StreamsArgs};
use crate::stats::{ms, number};

/// What one catch-up run measured, in milliseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct CaughtUp {
    /// Rows of the held buckets, as `bucket_rows` read them.
    pub(crate) rows_held: usize,
    /// Rows of the tenant, as `Store::snapshot` read them.
    pub(crate) rows_total: usize,
    pub(crate) bucket_rows_ms: f64,
    pub(crate) bucket_changes_ms: f64,
    pub(crate) subscribe_ms: f64,
    /// Bytes of the subscribe's frames.
    pub(crate) subscribe_bytes: usize,
    pub(crate) snapshot_ms: f64,
    pub(crate) initial_load_ms: f64,
    /// Bytes of the `initial_data_load` frame.
    pub(crate) initial_load_bytes: usize,
    /// Time to write the tenant, for context.
    pub(crate) seed_ms: f64,
}

impl CaughtUp {
    pub(crate) fn print(&self, backend: &str, args: &StreamsArgs) {
        println!(
            "  catch-up: {} of {} buckets, {} of {} rows ({backend}; tenant written in {:.0} ms)",
            args.held,
            args.keys,
            number(self.rows_held as f64, 0),
            number(self.rows_total as f64, 0),
            self.seed_ms
        );
        println!(
            "    bucket_rows {:.1} ms, bucket_changes from 0 {:.1} ms, subscribe to checkpoint {:.1} ms ({} bytes)",
            self.bucket_rows_ms,
            self.bucket_changes_ms,
            self.subscribe_ms,
            number(self.subscribe_bytes as f64, 0)
        );
        println!(
            "    full load: Store::snapshot {:.1} ms, Engine::initial_load {:.1} ms ({} bytes)",
            self.snapshot_ms,
            self.initial_load_ms,
            number(self.initial_load_bytes as f64, 0)
        );
        println!(
            "    full / partial: initial_load / subscribe {:.1}×, snapshot / bucket_rows {:.1}×",
            self.initial_load_ms / self.subscribe_ms.max(1e-9),
            self.snapshot_ms / self.bucket_rows_ms.max(1e-9)
        );
    }
}

/// Writes the tenant and measures its catch-ups in a fresh engine over SQLite.
pub(crate) async fn run(dir: &Path, args: &StreamsArgs) -> CaughtUp {
    let engine = deliver::engine(&dir.join("catch-up"), args.synchronous).await;
    let tenant = TenantId::new("catch-up").expect("a tenant id");
    on(&engine, &tenant, args).await
}

/// The same over PostgreSQL at `url`, in the schema `sync_bench`, in a tenant of this
/// process's own that is deleted afterwards.
pub(crate) async fn run_postgres(url: &str, args: &StreamsArgs) -> CaughtUp {
    let store = PostgresStore::builder(url, deliver::registry())
        .schema("sync_bench")
        .connect()
        .await
        .expect("connect to PostgreSQL");
    let engine = Engine::new(
        store,
        Hub::new(deliver::QUEUE_DEPTH),
        engine::Config::default(),
    );
    let tenant = TenantId::new(format!("catch-up-{}", std::process::id())).expect("a tenant id");
    engine
        .store()
        .delete_tenant(&tenant)
        .await
        .expect("a fresh tenant");
    let caught_up = on(&engine, &tenant, args).await;
    engine
        .store()
        .delete_tenant(&tenant)
        .await
        .expect("delete the tenant");
    caught_up
}

async fn on<S: Store>(engine: &Engine<S>, tenant: &TenantId, args: &StreamsArgs) -> CaughtUp {
    let keys = args.keys.max(1);
    let held: Vec<String> = (0..args.held.min(keys))
        .map(|key| format!("acct-{key}"))
        .collect();

    let seeding = Instant::now();
    let changes: Vec<Change> = (0..args.rows)
        .map(|n| {
            let payment = Payment::new(format!("pay-{n:07}"), format!("acct-{}", n % keys), 1);
            Change::upsert(&payment).expect("a payment serialises")
        })
        .collect();
    for batch in changes.chunks(1_000) {
        engine
            .submit(tenant, None, batch.to_vec())
            .await
            .expect("the tenant is written");
    }
    let seed_ms = ms(seeding.elapsed());

    // Two passes: the first, unmeasured, warms the page cache and the statement caches.
    let mut caught_up = CaughtUp::default();
    for _ in 0..2 {
        caught_up = measure(engine, tenant, &held).await;
    }
    caught_up.seed_ms = seed_ms;
    caught_up
}

async fn measure<S: Store>(engine: &Engine<S>, tenant: &TenantId, held: &[String]) -> CaughtUp {
    let mut caught_up = CaughtUp::default();
    let started = Instant::now();
    for key in held {
        let (rows, _) = bucket_rows(engine.store(), tenant, STREAM, key)
            .await
            .expect("bucket rows");
        caught_up.rows_held += rows.len();
    }
    caught_up.bucket_rows_ms = ms(started.elapsed());

    let started = Instant::now();
    let mut changed = 0;
    for key in held {
        let changes = bucket_changes(engine.store(), tenant, STREAM, key, 0)
            .await
            .expect("bucket changes");
        changed += changes.changes.len();
    }
    caught_up.bucket_changes_ms = ms(started.elapsed());
    assert_eq!(changed, caught_up.rows_held, "every held row is one put");

    let (_shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let mut client = Client::open(engine, tenant, shutdown).await;
    let started = Instant::now();
    let frames = client.subscribe(held).await;
    caught_up.subscribe_ms = ms(started.elapsed());
    caught_up.subscribe_bytes = frames.iter().map(|frame| frame.len()).sum();
    drop(client);

    let started = Instant::now();
    let snapshot = engine.store().snapshot(tenant).await.expect("a snapshot");
    caught_up.snapshot_ms = ms(started.elapsed());
    caught_up.rows_total = snapshot.collections.values().map(Vec::len).sum();
    drop(snapshot);

    let started = Instant::now();
    let frame = engine.initial_load(tenant).await.expect("an initial load");
    caught_up.initial_load_ms = ms(started.elapsed());
    caught_up.initial_load_bytes = frame.text().len();
    caught_up
}
