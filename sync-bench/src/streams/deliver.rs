//! Parts 1 and 2 of `streams`: the cost of one change, and its delivery, to S sessions that
//! each hold one bucket, against S sessions that take the tenant whole.
//!
//! Each population is S real [`Session`]s of its own tenant, over channels. A partial
//! session subscribes to its bucket `acct-<i>` and waits for the subscription's checkpoint;
//! a whole-tenant session subscribes to nothing. Then, from server code (`Engine::put`, no
//! origin), the same changes in each population: `changes` creates (payment *j* in account
//! *j mod S*), as many in-place updates, as many moves (to account *j + 1 mod S*), one at a
//! time, `interval_ms` apart; then `burst` updates submitted together.
//!
//! A delivery is a `stream_page` (partial) or a `data_update` (whole tenant) read from a
//! session's outbound channel; checkpoints and other frames are not counted. A paced
//! change's sample is the time from its submit (which includes its commit) to the arrival
//! of its last delivery.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use sync_core::engine::{self, Engine};
use sync_core::entity::stream::key_evaluations;
use sync_core::hub::Hub;
use sync_core::session::{Config, Inbound, Outbound, Session};
use sync_core::store::sqlite::SqliteStore;
use sync_core::{Outcome, Registry, Store, TenantId};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Payment, STREAM, StreamsArgs};
use crate::proc;
use crate::stats::{Latencies, Summary, number};

/// The hub's queue per session, in messages: a burst must fit.
pub(crate) const QUEUE_DEPTH: usize = 4096;

/// What one population measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Population {
    /// Key evaluations per change: create, update, move.
    pub(crate) evaluations: [f64; 3],
    /// `Hub::stream_deliveries()` per change: create, update, move.
    pub(crate) stream_deliveries: [f64; 3],
    /// Sessions a change reached, mean per kind: create, update, move.
    pub(crate) reached: [f64; 3],
    /// Submit to last delivery, every paced change.
    pub(crate) latency: Summary,
    /// Submit to `Engine::put` returning (the commit), every paced change.
    pub(crate) commit: Summary,
    /// Process CPU per 1,000 changes of the burst, in milliseconds.
    pub(crate) cpu_ms_per_1000: f64,
    /// Changes per second of the burst (first submit to last delivery).
    pub(crate) changes_per_second: f64,
}

/// Both populations of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delivered {
    pub(crate) partial: Population,
    pub(crate) whole: Population,
}

impl Delivered {
    pub(crate) fn print(&self, args: &StreamsArgs) {
        let sessions = number(args.sessions as f64, 0);
        for (name, population) in [
            (
                format!("partial, {sessions} sessions, one bucket each"),
                &self.partial,
            ),
            (
                format!("whole tenant, {sessions} sessions, no subscription"),
                &self.whole,
            ),
        ] {
            let [create, update, moved] = population.evaluations;
            let [d_create, d_update, d_moved] = population.stream_deliveries;
            let [r_create, r_update, r_moved] = population.reached;
            println!("  {name}:");
            println!(
                "    key evaluations per change: create {create:.2}, update {update:.2}, move {moved:.2} (1 stream)"
            );
            println!(
                "    Hub::stream_deliveries per change: create {d_create:.2}, update {d_update:.2}, move {d_moved:.2}"
            );
            println!(
                "    sessions reached per change: create {}, update {}, move {}",
                number(r_create, 2),
                number(r_update, 2),
                number(r_moved, 2)
            );
            println!(
                "    paced ({} changes, {} ms apart): submit to last delivery p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                3 * args.changes,
                args.interval_ms,
                population.latency.p50,
                population.latency.p99,
                population.latency.max
            );
            println!(
                "    of which submit to commit (Engine::put returned): p50 {:.2} ms, p99 {:.2} ms",
                population.commit.p50, population.commit.p99
            );
            println!(
                "    burst ({} updates): {} changes/s, process CPU {:.1} ms per 1,000 changes",
                args.burst,
                number(population.changes_per_second, 0),
                population.cpu_ms_per_1000
            );
        }
    }
}

/// Deliveries read by the reader tasks: how many, the last at what time.
struct Arrivals {
    base: Instant,
    delivered: AtomicU64,
    last_ns: AtomicU64,
}

impl Arrivals {
    fn record(&self) {
        let now = self.base.elapsed().as_nanos() as u64;
        self.last_ns.fetch_max(now, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Release);
    }

    fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Waits until `count` deliveries in all; the time of the last.
    async fn wait_for(&self, count: u64) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.delivered() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries in 60 s",
                self.delivered()
            );
            // Sleeping, not spinning, keeps the waiter's CPU out of the figures; the time of
            // the last delivery is the reader's, not the waiter's.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.base + Duration::from_nanos(self.last_ns.load(Ordering::Relaxed))
    }
}

/// Whether a frame is a delivery of a measured change (not of the unmeasured `warm` one,
/// which sessions opened while it was published may receive).
fn is_delivery(text: &str) -> bool {
    (text.starts_with(r#"{"type":"stream_page""#) || text.contains(r#""data_update""#))
        && text.contains(r#""pay-"#)
}

/// One session and the task reading what it sends.
pub(crate) struct Client {
    to_session: mpsc::Sender<Inbound>,
    from_session: mpsc::Receiver<Outbound>,
    session: JoinHandle<()>,
}

/// Session timings that never fire during a run.
pub(crate) fn config() -> Config {
    Config {
        ping_interval: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(3600),
        ..Config::default()
    }
}

impl Client {
    /// Starts a session of `tenant` and waits for its `status: online`.
    pub(crate) async fn open<S: Store>(
        engine: &Engine<S>,
        tenant: &TenantId,
        shutdown: watch::Receiver<bool>,
    ) -> Client {
        let (to_session, inbound) = mpsc::channel(4);
        let (outbound, mut from_session) = mpsc::channel(64);
        let session = Session::new(engine.clone(), tenant.clone(), "bench", config(), shutdown);
        let session = tokio::spawn(session.run(inbound, outbound));
        match from_session.next().await {
            Some(Outbound::Text(text)) if text.contains("online") => {}
            other => panic!("expected status online, got {other:?}"),
        }
        Client {
            to_session,
            from_session,
            session,
        }
    }

    /// Subscribes to `keys` of the stream; returns the frames up to and including the
    /// subscription's checkpoint.
    pub(crate) async fn subscribe(&mut self, keys: &[String]) -> Vec<Arc<str>> {
        let subscribe = serde_json::json!({
            "type": "subscribe", "id": "s", "stream": STREAM, "parameters": keys,
        });
        self.to_session
            .send(Inbound::Text(subscribe.to_string()))
            .await
            .expect("the session reads");
        let mut frames = Vec::new();
        loop {
            match self.from_session.next().await {
                Some(Outbound::Text(text)) => {
                    assert!(
                        !text.starts_with(r#"{"type":"subscription_error""#),
                        "{text}"
                    );
                    let done = text.starts_with(r#"{"type":"checkpoint""#);
                    frames.push(text);
                    if done {
                        return frames;
                    }
                }
                other => panic!("the session ended during subscribe: {other:?}"),
            }
        }
    }

    /// Hands the outbound channel to a task that counts deliveries.
    fn read(self, arrivals: Arc<Arrivals>) -> Reading {
        let mut from_session = self.from_session;
        let reader = tokio::spawn(async move {
            while let Some(frame) = from_session.next().await {
                if let Outbound::Text(text) = frame
                    && is_delivery(&text)
                {
                    arrivals.record();
                }
            }
        });
        Reading {
            to_session: self.to_session,
            session: self.session,
            reader,
        }
    }
}

/// A session whose deliveries a reader task counts.
struct Reading {
    to_session: mpsc::Sender<Inbound>,
    session: JoinHandle<()>,
    reader: JoinHandle<()>,
}

/// The registry of every part: `Payment` alone.
pub(crate) fn registry() -> Registry {
    Registry::builder()
        .entity::<Payment>()
        .build()
        .expect("the registry")
}

/// A fresh engine over a SQLite store in `dir`.
pub(crate) async fn engine(
    dir: &Path,
    synchronous: sync_core::store::sqlite::Synchronous,
) -> Engine<SqliteStore> {
    let store = SqliteStore::builder(dir, registry())
        .synchronous(synchronous)
        .open()
        .await
        .expect("open the store");
    Engine::new(store, Hub::new(QUEUE_DEPTH), engine::Config::default())
}

/// Measures both populations, whole tenant first, in one engine.
pub(crate) async fn run(dir: &Path, args: &StreamsArgs) -> Delivered {
    let engine = engine(&dir.join("deliver"), args.synchronous).await;
    let whole = measure(&engine, "whole", false, args).await;
    let partial = measure(&engine, "partial", true, args).await;
    Delivered { partial, whole }
}

async fn measure(
    engine: &Engine<SqliteStore>,
    tenant: &str,
    partial: bool,
    args: &StreamsArgs,
) -> Population {
    let tenant = TenantId::new(tenant).expect("a tenant id");
    let sessions = args.sessions.max(1);
    let account = |n: usize| format!("acct-{}", n % sessions);
    // Unmeasured: the first change opens the tenant's database.
    put(
        engine,
        &tenant,
        Payment::new("warm".into(), "none".into(), 0),
    )
    .await;

    let (shutdown_tx, shutdown) = watch::channel(false);
    let arrivals = Arc::new(Arrivals {
        base: Instant::now(),
        delivered: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
    });
    let clients: Vec<Client> = futures::stream::iter(0..sessions)
        .map(|n| {
            let (engine, tenant, shutdown) = (engine.clone(), tenant.clone(), shutdown.clone());
            async move {
                let mut client = Client::open(&engine, &tenant, shutdown).await;
                if partial {
                    client.subscribe(&[account(n)]).await;
                }
                client
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let running: Vec<_> = clients
        .into_iter()
        .map(|client| client.read(arrivals.clone()))
        .collect();

    let mut version = 1;
    let mut next = |id: usize, account: String| {
        version += 1;
        Payment::new(format!("pay-{id}"), account, version)
    };
    // Whole tenant: every session; partial: the holders of the buckets a change touches.
    let reach = |kind: usize| -> u64 {
        match (partial, kind) {
            (false, _) => sessions as u64,
            (true, 2) if sessions > 1 => 2,
            (true, _) => 1,
        }
    };
    let mut population = Population::default();
    let (mut latencies, mut commits) = (Latencies::default(), Latencies::default());
    for kind in 0..3 {
        let (evaluations, stream_deliveries, delivered) = (
            key_evaluations(),
            engine.hub().stream_deliveries(),
            arrivals.delivered(),
        );
        for j in 0..args.changes {
            let payment = match kind {
                0 | 1 => next(j, account(j)),
                _ => next(j, account(j + 1)),
            };
            let expected = arrivals.delivered() + reach(kind);
            let sent = Instant::now();
            put(engine, &tenant, payment).await;
            commits.push(sent.elapsed());
            let last = arrivals.wait_for(expected).await;
            latencies.push(last.saturating_duration_since(sent));
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
        let per_change = |before: u64, after: u64| {
            after.saturating_sub(before) as f64 / args.changes.max(1) as f64
        };
        population.evaluations[kind] = per_change(evaluations, key_evaluations());
        population.stream_deliveries[kind] =
            per_change(stream_deliveries, engine.hub().stream_deliveries());
        population.reached[kind] = per_change(delivered, arrivals.delivered());
    }
    population.latency = latencies.summary();
    population.commit = commits.summary();

    // The burst: updates of the moved rows, in their new buckets, submitted together.
    let payments: Vec<Payment> = (0..args.burst)
        .map(|j| {
            next(
                j % args.changes.max(1),
                account(j % args.changes.max(1) + 1),
            )
        })
        .collect();
    let expected = arrivals.delivered() + args.burst as u64 * reach(1);
    let before = proc::cpu_ns();
    let first = Instant::now();
    futures::future::join_all(
        payments
            .into_iter()
            .map(|payment| put(engine, &tenant, payment)),
    )
    .await;
    let last = arrivals.wait_for(expected).await;
    let cpu_ns = proc::cpu_ns().saturating_sub(before);
    population.cpu_ms_per_1000 = cpu_ns as f64 / 1e6 / args.burst.max(1) as f64 * 1000.0;
    population.changes_per_second =
        args.burst as f64 / last.duration_since(first).as_secs_f64().max(1e-9);

    shutdown_tx.send_replace(true);
    for reading in running {
        drop(reading.to_session);
        reading.session.await.expect("the session ends");
        reading.reader.abort();
    }
    population
}

/// Commits `payment` from server code; it must apply.
async fn put(engine: &Engine<SqliteStore>, tenant: &TenantId, payment: Payment) {
    match engine.put(tenant, &payment).await {
        Ok(Outcome::Applied { .. }) => {}
        other => panic!("payment {} not applied: {other:?}", payment.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_pages_and_updates_of_measured_payments() {
        let page = r#"{"type":"stream_page","changes":[{"op":"put","entity_id":"pay-3"}]}"#;
        assert!(is_delivery(page));
        assert!(is_delivery(
            r#"{"type":"data_update","data":{"single_entity":{"id":"pay-3"}}}"#
        ));
        assert!(!is_delivery(
            r#"{"type":"data_update","data":{"single_entity":{"id":"warm"}}}"#
        ));
        assert!(!is_delivery(r#"{"type":"checkpoint","cursor":9}"#));
    }
}
