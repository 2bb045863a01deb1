//! Cross-node delivery over each bus, beside same-node delivery.
//!
//! `cargo bench -p sync-core --features nats,postgres --bench bus` needs NATS
//! (SYNC_TEST_NATS_URL, default nats://127.0.0.1:4222) and PostgreSQL (SYNC_TEST_DATABASE_URL,
//! default postgres://postgres@127.0.0.1:5432/postgres). Two engines with their own hubs share
//! one SQLite store (`synchronous=OFF`, so the database is not what is measured).
//!
//! 1. Latency: one change at a time committed through node A (a server-side put), timed from
//!    the call until a session receives its `data_update`: a session on node A without a bus
//!    (the single-node baseline), and a session on node B over the local, NATS and NOTIFY
//!    buses. p50, p99 and max over `LATENCY_CHANGES` changes.
//! 2. Load: 1, 8 and 64 tenants writing at once through node A for `LOAD_SECONDS`, each
//!    tenant with one session on node B (and on A without a bus): commits per second, the
//!    bus sends and notices per second the publisher made, and how long node B took after
//!    the writers stopped to have every change.
//! 3. The ceiling under the NOTIFY bus: notifying transactions per second (one `pg_notify`
//!    each, autocommit) from 1 and 8 connections at once, beside NATS publishes per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use sync_core::bus::local::LocalBus;
use sync_core::bus::nats::NatsBus;
use sync_core::bus::postgres::PostgresBus;
use sync_core::bus::{Bus, Event, Notice};
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::session::{self, Inbound, Outbound, Session};
use sync_core::store::Store;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Registry, Syncable, TenantId};
use tokio::sync::watch;

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    name: String,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

const LATENCY_CHANGES: usize = 3000;
const LOAD_SECONDS: u64 = 3;
const TENANTS: [usize; 3] = [1, 8, 64];

/// Counts what the publisher hands the bus.
struct Counted {
    inner: Arc<dyn Bus>,
    sends: AtomicU64,
    notices: AtomicU64,
}

impl Bus for Counted {
    fn send<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, sync_core::Result<()>> {
        self.sends.fetch_add(1, Ordering::Relaxed);
        self.notices
            .fetch_add(notices.len() as u64, Ordering::Relaxed);
        self.inner.send(notices)
    }

    fn listen(&self) -> BoxFuture<'_, sync_core::Result<BoxStream<'static, Event>>> {
        self.inner.listen()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    None,
    Local,
    Nats,
    Notify,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::None => "same node, no bus",
            Kind::Local => "node B, local bus",
            Kind::Nats => "node B, NATS",
            Kind::Notify => "node B, NOTIFY",
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    a: Engine<SqliteStore>,
    /// Where the watching sessions connect: A without a bus, else B.
    watch: Engine<SqliteStore>,
    counted: Option<Arc<Counted>>,
    shutdown: watch::Sender<bool>,
}

async fn buses(kind: Kind, run: usize) -> Option<(Arc<dyn Bus>, Arc<dyn Bus>)> {
    let nats =
        std::env::var("SYNC_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let postgres = std::env::var("SYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("bench_{}_{run}", uuid::Uuid::new_v4().simple());
    Some(match kind {
        Kind::None => return None,
        Kind::Local => {
            let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(4096));
            (bus.clone(), bus)
        }
        Kind::Nats => {
            let connect = async || {
                NatsBus::connect(&nats, &name).await.unwrap_or_else(|error| {
                    panic!("NATS is unreachable at {nats}: {error}; start nats-server or set SYNC_TEST_NATS_URL")
                })
            };
            (Arc::new(connect().await), Arc::new(connect().await))
        }
        Kind::Notify => {
            let connect = async || {
                let bus = PostgresBus::connect(&postgres).await.unwrap_or_else(|error| {
                    panic!("PostgreSQL is unreachable at {postgres}: {error}; start it or set SYNC_TEST_DATABASE_URL")
                });
                bus.channel(&name).unwrap()
            };
            (Arc::new(connect().await), Arc::new(connect().await))
        }
    })
}

async fn setup(kind: Kind, run: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder().entity::<Account>().build().unwrap();
    let store = SqliteStore::builder(dir.path(), registry)
        .synchronous(Synchronous::Off)
        .max_open_tenants(256)
        .open()
        .await
        .unwrap();
    let config = engine::Config::default();
    let (a, watch, counted) = match buses(kind, run).await {
        None => {
            let a = Engine::new(store, Hub::new(100_000), config);
            (a.clone(), a, None)
        }
        Some((bus_a, bus_b)) => {
            let counted = Arc::new(Counted {
                inner: bus_a,
                sends: AtomicU64::new(0),
                notices: AtomicU64::new(0),
            });
            let a = Engine::with_bus(
                store.clone(),
                Hub::new(100_000),
                config.clone(),
                counted.clone(),
            );
            let b = Engine::with_bus(store, Hub::new(100_000), config, bus_b);
            (a, b, Some(counted))
        }
    };
    Setup {
        _dir: dir,
        a,
        watch,
        counted,
        shutdown: watch::channel(false).0,
    }
}

impl Setup {
    /// A session of `tenant` on the watching node; yields each data_update's arrival.
    async fn watcher(
        &self,
        tenant: &TenantId,
    ) -> (mpsc::Sender<Inbound>, mpsc::Receiver<Outbound>) {
        let (mut to_session, inbound) = mpsc::channel(8);
        let (outbound, mut from_session) = mpsc::channel(200_000);
        let session = Session::new(
            self.watch.clone(),
            tenant.clone(),
            "bench",
            session::Config::default(),
            self.shutdown.subscribe(),
        );
        tokio::spawn(session.run(inbound, outbound));
        from_session.next().await.unwrap(); // status: online
        // A round trip: once answered, delivery to this session is set up.
        futures::SinkExt::send(&mut to_session, Inbound::Text(r#"{"type":"ping"}"#.into()))
            .await
            .unwrap();
        from_session.next().await.unwrap();
        (to_session, from_session)
    }
}

fn account(n: usize) -> Account {
    Account {
        id: format!("a{n}"),
        name: format!("Account {n}"),
        updated_at: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn latency(kind: Kind) -> Vec<Duration> {
    let setup = setup(kind, 0).await;
    let tenant = TenantId::new("latency").unwrap();
    let (_keep, mut updates) = setup.watcher(&tenant).await;
    let mut samples = Vec::with_capacity(LATENCY_CHANGES);
    for n in 0..LATENCY_CHANGES + 100 {
        let started = Instant::now();
        setup.a.put(&tenant, &account(n)).await.unwrap();
        match updates.next().await.unwrap() {
            Outbound::Text(_) => {}
            Outbound::Close { code, reason } => panic!("closed {code}: {reason}"),
        }
        if n >= 100 {
            samples.push(started.elapsed()); // the first 100 warm up
        }
    }
    samples.sort();
    samples
}

struct Load {
    commits_per_second: f64,
    sends_per_second: f64,
    notices_per_second: f64,
    drain: Duration,
}

async fn load(kind: Kind, tenants: usize) -> Load {
    let setup = setup(kind, tenants).await;
    let ids: Vec<TenantId> = (0..tenants)
        .map(|n| TenantId::new(format!("t{n}")).unwrap())
        .collect();
    let mut watchers = Vec::new();
    for tenant in &ids {
        setup.a.store().cursor(tenant).await.unwrap(); // open the databases first
        watchers.push(setup.watcher(tenant).await);
    }
    let stop = Instant::now() + Duration::from_secs(LOAD_SECONDS);
    let started = Instant::now();
    let writers: Vec<_> = ids
        .iter()
        .map(|tenant| {
            let engine = setup.a.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < stop {
                    engine.put(&tenant, &account(n)).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut commits = Vec::new();
    for writer in writers {
        commits.push(writer.await.unwrap());
    }
    let elapsed = started.elapsed();
    let (sends, notices) = setup.counted.as_ref().map_or((0, 0), |counted| {
        (
            counted.sends.load(Ordering::Relaxed),
            counted.notices.load(Ordering::Relaxed),
        )
    });
    // Every change reaches the watching node: count each session's updates to the end.
    let ended = Instant::now();
    for ((_keep, updates), expected) in watchers.iter_mut().zip(&commits) {
        let mut seen = 0;
        while seen < *expected {
            match tokio::time::timeout(Duration::from_secs(30), updates.next()).await {
                Ok(Some(Outbound::Text(_))) => seen += 1,
                other => panic!("delivery stopped after {seen} of {expected}: {other:?}"),
            }
        }
    }
    let drain = ended.elapsed();
    let total: usize = commits.iter().sum();
    let seconds = elapsed.as_secs_f64();
    Load {
        commits_per_second: total as f64 / seconds,
        sends_per_second: sends as f64 / seconds,
        notices_per_second: notices as f64 / seconds,
        drain,
    }
}

/// Notifying transactions per second from `connections` connections at once.
async fn raw_notify(connections: u32) -> f64 {
    let url = std::env::var("SYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .connect(&url)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL is unreachable at {url}: {error}"));
    let stop = Instant::now() + Duration::from_secs(2);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut count = 0u64;
                while Instant::now() < stop {
                    sqlx::query("SELECT pg_notify('bench_raw', $1)")
                        .bind(format!("{n} {count}"))
                        .execute(&pool)
                        .await
                        .unwrap();
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// NATS publishes per second, flushed at the end.
async fn raw_nats() -> f64 {
    let url =
        std::env::var("SYNC_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let client = async_nats::connect(&url)
        .await
        .unwrap_or_else(|error| panic!("NATS is unreachable at {url}: {error}"));
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        client
            .publish("bench_raw.t", format!("{count}").into())
            .await
            .unwrap();
        count += 1;
    }
    client.flush().await.unwrap();
    count as f64 / started.elapsed().as_secs_f64()
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let kinds = [Kind::None, Kind::Local, Kind::Nats, Kind::Notify];
        println!(
            "commit on node A to data_update at a session, one change at a time, {LATENCY_CHANGES} changes (ms)"
        );
        println!(
            "{:<20} {:>8} {:>8} {:>8} {:>10} {:>10}",
            "", "p50", "p99", "max", "p50 ratio", "p99 ratio"
        );
        // The ratios are to the same-node path (no bus), measured first in this run.
        let mut baseline = None;
        for kind in kinds {
            let samples = latency(kind).await;
            let (p50, p99) = (
                ms(percentile(&samples, 0.50)),
                ms(percentile(&samples, 0.99)),
            );
            let (base50, base99) = *baseline.get_or_insert((p50, p99));
            println!(
                "{:<20} {:>8.3} {:>8.3} {:>8.3} {:>10.2} {:>10.2}",
                kind.label(),
                p50,
                p99,
                ms(*samples.last().unwrap()),
                p50 / base50,
                p99 / base99,
            );
        }
        println!();
        println!(
            "tenants writing at once through node A for {LOAD_SECONDS} s, one session each on the watching node"
        );
        println!(
            "{:<20} {:>7} {:>11} {:>8} {:>11} {:>11} {:>9}",
            "", "tenants", "commits/s", "ratio", "bus sends/s", "notices/s", "drain ms"
        );
        for tenants in TENANTS {
            // The ratio is to the commits/s without a bus at the same tenant count.
            let mut baseline = None;
            for kind in kinds {
                let load = load(kind, tenants).await;
                let base = *baseline.get_or_insert(load.commits_per_second);
                println!(
                    "{:<20} {:>7} {:>11.0} {:>8.2} {:>11.0} {:>11.0} {:>9.1}",
                    kind.label(),
                    tenants,
                    load.commits_per_second,
                    load.commits_per_second / base,
                    load.sends_per_second,
                    load.notices_per_second,
                    ms(load.drain),
                );
            }
        }
        println!();
        println!("the buses' own ceiling, 2 s each");
        for connections in [1, 8] {
            println!(
                "NOTIFY transactions/s, {connections} connection(s): {:>9.0}",
                raw_notify(connections).await
            );
        }
        println!("NATS publishes/s, 1 connection:         {:>9.0}", raw_nats().await);
    });
}
