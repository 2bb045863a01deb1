//! Figures, not checks: how fast the client writes locally, flushes its outbox and
//! catches up. Ignored by default; run in release:
//!
//! ```sh
//! cargo test --release -p sync-client --test figures -- --ignored --nocapture
//! ```

mod common;

use std::time::{Duration, Instant};

use common::*;
use sync_core::change::Change;
use sync_core::store::Store;
use sync_core::store::sqlite::Synchronous;

const COUNT: usize = 5000;
const SYNC: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it in release with --ignored --nocapture"]
async fn local_writes_flush_and_catch_up() {
    for level in [Synchronous::Full, Synchronous::Normal] {
        let dir = Dir::new();
        let address = free_address().await;
        let a = builder(&format!("ws://{address}/ws"), &dir.db("a"))
            .synchronous(level)
            .build()
            .await
            .unwrap();
        let started = Instant::now();
        for n in 0..COUNT {
            a.put(&Account::new(&format!("acc-{n:05}"), "bulk", n as f64))
                .await
                .unwrap();
        }
        let writes = started.elapsed();
        let server = Server::start_at(&dir.data(), address).await;
        let started = Instant::now();
        sync(&a, SYNC).await;
        let flush = started.elapsed();
        assert_eq!(server.cursor().await, COUNT as u64);
        eprintln!(
            "replica synchronous={level:?}: {COUNT} local writes in {writes:?} ({:.0}/s); flush of {COUNT} in {flush:?} ({:.0}/s)",
            COUNT as f64 / writes.as_secs_f64(),
            COUNT as f64 / flush.as_secs_f64(),
        );
    }

    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let a = client(&server.url(), &dir.db("a")).await;
    sync(&a, SYNC).await;
    a.close().await.unwrap();
    for chunk in 0..10 {
        let changes: Vec<Change> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|n| {
                Change::upsert(&Account::new(&format!("n-{n:05}"), "bulk", f64::from(n))).unwrap()
            })
            .collect();
        server.store.apply(&tenant(), &changes).await.unwrap();
    }
    let a = client(&server.url(), &dir.db("a")).await;
    let started = Instant::now();
    sync(&a, SYNC).await;
    let catch_up = started.elapsed();
    assert_eq!(a.cursor().await.unwrap(), 10_000);
    eprintln!(
        "catch-up of 10,000 changes in {catch_up:?} ({:.0}/s)",
        10_000.0 / catch_up.as_secs_f64()
    );
}
