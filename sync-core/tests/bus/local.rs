//! The in-process bus.

use std::sync::Arc;
use std::time::Duration;

use sync_core::bus::Bus;
use sync_core::bus::local::LocalBus;

use crate::harness::{Backend, Cluster};
use crate::scenarios;

pub(crate) async fn pair() -> (Arc<dyn Bus>, Arc<dyn Bus>) {
    let bus = Arc::new(LocalBus::new(1024));
    (bus.clone(), bus)
}

scenario_tests!(crate::local::pair);

/// A node that falls behind the local bus's capacity resyncs from the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_falls_behind_resyncs() {
    let bus = Arc::new(LocalBus::new(1));
    let cluster = Cluster::new(Backend::Sqlite, bus.clone(), bus, scenarios::NO_CHECK).await;
    let mut far = cluster.b.connect("t").await;
    let mut writer = cluster.a.connect("t").await;
    let mut seqs = Vec::new();
    for n in 0..30 {
        seqs.push(writer.write(&format!("e{n}"), &format!("a{n}"), "x").await);
    }
    far.collect(seqs.len(), Duration::from_secs(5)).await;
    assert_eq!(far.updates, seqs);
}

/// Tracking a tenant stops once its last session on the node leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_ends_with_the_last_session() {
    let (a, b) = pair().await;
    let cluster = Cluster::new(Backend::Sqlite, a, b, Duration::from_millis(100)).await;
    let first = cluster.b.connect("t").await;
    let second = cluster.b.connect("t").await;
    assert_eq!(cluster.b.engine.tracked_tenants(), 1);
    drop(first);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cluster.b.engine.tracked_tenants(), 1);
    drop(second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while cluster.b.engine.tracked_tenants() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tracking did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new session starts it again, and gets the other node's changes.
    let mut again = cluster.b.connect("t").await;
    let mut writer = cluster.a.connect("t").await;
    let seq = writer.write("e1", "a1", "x").await;
    again.collect(1, Duration::from_secs(5)).await;
    assert_eq!(again.updates, [seq]);
}
