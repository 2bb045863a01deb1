//! What every bus must do, run by each bus's tests.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sync_core::TenantId;
use sync_core::bus::Bus;
use sync_core::outcome::Outcome;
use sync_core::session::close;

#[cfg(any(feature = "nats", feature = "postgres"))]
use crate::harness::Proxy;
use crate::harness::{Account, Backend, Client, Cluster, Lossy};

/// Long enough that only the bus can have delivered within a test.
pub(crate) const NO_CHECK: Duration = Duration::from_secs(600);

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

/// A client's change through A reaches B's sessions once; so do server-side writes.
pub(crate) async fn a_change_reaches_the_other_node_once(
    backend: Backend,
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
) {
    let cluster = Cluster::new(backend, a, b, NO_CHECK).await;
    let mut writer = cluster.a.connect("t").await;
    let mut near = cluster.a.connect("t").await;
    let mut far = cluster.b.connect("t").await;
    let mut other_tenant = cluster.b.connect("u").await;

    let seq = writer.write("e1", "a1", "Giro").await;
    let update = far.data_update().await;
    assert_eq!(update["event_type"], "data_update");
    assert_eq!(update["cursor"], seq);
    assert_eq!(update["data"]["single_entity"]["name"], "Giro");
    far.silent(Duration::from_millis(300)).await;
    near.collect(1, Duration::from_secs(5)).await;
    assert_eq!(near.updates, [seq]);
    writer.silent(Duration::from_millis(100)).await;

    // Server code writes through node A: node B's session gets it like a client's write.
    let account = Account::new("a2", "Savings", 3.0);
    let Outcome::Applied { effect, .. } = cluster.a.engine.put(&tenant(), &account).await.unwrap()
    else {
        panic!("the put applies");
    };
    let update = far.data_update().await;
    assert_eq!(update["cursor"], effect.seq);
    assert_eq!(update["data"]["single_entity"]["name"], "Savings");
    let Outcome::Applied { effect, .. } = cluster
        .a
        .engine
        .delete::<Account>(&tenant(), "a2")
        .await
        .unwrap()
    else {
        panic!("the delete applies");
    };
    let update = far.data_update().await;
    assert_eq!(update["operation_type"], "delete");
    assert_eq!(update["cursor"], effect.seq);
    far.silent(Duration::from_millis(300)).await;
    other_tenant.silent(Duration::from_millis(10)).await;
    assert_eq!(
        cluster
            .b
            .engine
            .get::<Account>(&tenant(), "a1")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Giro"
    );
    assert!(
        cluster
            .b
            .engine
            .get::<Account>(&tenant(), "a2")
            .await
            .unwrap()
            .is_none()
    );
    cluster.close().await;
}

/// Writers on both nodes at once: every session of both nodes gets every change in strictly
/// increasing order, none missing (compared with the feed), never its own.
pub(crate) async fn interleaved_commits_arrive_in_order_everywhere(
    backend: Backend,
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
) {
    const EACH: usize = 60;
    let cluster = Cluster::new(backend, a, b, NO_CHECK).await;
    let mut watch_a = cluster.a.connect("t").await;
    let mut watch_b = cluster.b.connect("t").await;
    let writer_a = cluster.a.connect("t").await;
    let writer_b = cluster.b.connect("t").await;

    let run = |mut writer: Client, name: &'static str| {
        tokio::spawn(async move {
            let mut own = Vec::new();
            for n in 0..EACH {
                own.push(
                    writer
                        .write(&format!("{name}{n}"), &format!("{name}{n}"), name)
                        .await,
                );
            }
            (writer, own)
        })
    };
    let (a, b) = (run(writer_a, "a"), run(writer_b, "b"));
    let (mut writer_a, own_a) = a.await.unwrap();
    let (mut writer_b, own_b) = b.await.unwrap();

    let feed = cluster.feed("t").await;
    assert_eq!(feed.len(), 2 * EACH, "every write is its own row");
    for watcher in [&mut watch_a, &mut watch_b] {
        watcher.collect(feed.len(), Duration::from_secs(10)).await;
        assert_eq!(watcher.updates, feed, "every change once, in order");
    }
    for (writer, own) in [(&mut writer_a, &own_a), (&mut writer_b, &own_b)] {
        let expected: Vec<u64> = feed
            .iter()
            .copied()
            .filter(|seq| !own.contains(seq))
            .collect();
        writer
            .collect(expected.len(), Duration::from_secs(10))
            .await;
        assert_eq!(
            writer.updates, expected,
            "the others' changes, in order, never its own"
        );
    }
    cluster.close().await;
}

/// A lost notice leaves a gap that the next notice fills from the feed, in order.
pub(crate) async fn a_lost_notice_is_caught_up(backend: Backend, a: Arc<dyn Bus>, b: Arc<dyn Bus>) {
    let lossy = Lossy::new(a);
    let cluster = Cluster::new(backend, lossy.clone(), b, NO_CHECK).await;
    let mut far = cluster.b.connect("t").await;
    let mut writer = cluster.a.connect("t").await;

    // Once a notice has arrived, both nodes listen: a later silence is the lost notice.
    let first = writer.write("e0", "a0", "first").await;
    far.collect(1, Duration::from_secs(5)).await;
    lossy.dropping.store(true, Ordering::SeqCst);
    let lost = writer.write("e1", "a1", "lost").await;
    far.silent(Duration::from_millis(500)).await;
    lossy.dropping.store(false, Ordering::SeqCst);
    let next = writer.write("e2", "a2", "next").await;
    far.collect(3, Duration::from_secs(5)).await;
    assert_eq!(far.updates, [first, lost, next]);
    cluster.close().await;
}

/// With every notice lost, the periodic check still delivers.
pub(crate) async fn the_periodic_check_delivers_without_notices(
    backend: Backend,
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
) {
    let lossy = Lossy::new(a);
    lossy.dropping.store(true, Ordering::SeqCst);
    let cluster = Cluster::new(backend, lossy, b, Duration::from_millis(200)).await;
    let mut far = cluster.b.connect("t").await;
    let mut writer = cluster.a.connect("t").await;
    let first = writer.write("e1", "a1", "one").await;
    let second = writer.write("e2", "a2", "two").await;
    far.collect(2, Duration::from_secs(5)).await;
    assert_eq!(far.updates, [first, second]);
    cluster.close().await;
}

#[cfg(any(feature = "nats", feature = "postgres"))]
/// Both nodes' bus connections go through `proxy`: while it is cut, ACKs keep flowing; once
/// it is back, the other node's sessions have every change, in order.
pub(crate) async fn a_bus_outage_keeps_acks_and_is_caught_up(
    backend: Backend,
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
    proxy: &Proxy,
) {
    let cluster = Cluster::new(backend, a, b, NO_CHECK).await;
    let mut far = cluster.b.connect("t").await;
    let mut writer = cluster.a.connect("t").await;
    let before = writer.write("e0", "a0", "before").await;
    far.collect(1, Duration::from_secs(5)).await;
    assert_eq!(far.updates, [before]);

    proxy.cut();
    let mut during = Vec::new();
    for n in 1..=20 {
        let started = tokio::time::Instant::now();
        during.push(
            writer
                .write(&format!("e{n}"), &format!("a{n}"), "during")
                .await,
        );
        // Were ACKs waiting for the bus, they would wait for the whole outage, which ends
        // only after this loop; the bound leaves room for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "an ACK does not wait for the bus: {:?}",
            started.elapsed()
        );
    }
    // The cut is real: nothing reaches the other node while it lasts.
    far.silent(Duration::from_millis(500)).await;
    proxy.restore();

    let mut expected = vec![before];
    expected.extend(&during);
    far.collect(expected.len(), Duration::from_secs(30)).await;
    assert_eq!(
        far.updates, expected,
        "every change once, in order, after the outage"
    );
    let after = writer.write("e99", "a99", "after").await;
    expected.push(after);
    far.collect(expected.len(), Duration::from_secs(10)).await;
    assert_eq!(far.updates, expected);
    cluster.close().await;
}

/// Deleting a tenant through A closes its sessions on B, and only that tenant's.
pub(crate) async fn a_tenant_deletion_closes_sessions_everywhere(
    backend: Backend,
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
) {
    let cluster = Cluster::new(backend, a, b, NO_CHECK).await;
    let mut near = cluster.a.connect("t").await;
    let mut far = cluster.b.connect("t").await;
    let mut other = cluster.b.connect("u").await;
    cluster.a.engine.close_tenant(&tenant());
    assert_eq!(near.closed().await, close::POLICY);
    assert_eq!(far.closed().await, close::POLICY);
    other
        .send(serde_json::json!({"type": "ping", "timestamp": 1}))
        .await;
    assert_eq!(other.recv().await["type"], "pong");
    cluster.close().await;
}

/// A member's access changing through A closes that member's sessions of the tenant on A
/// and B, and no one else's: not another member's, nor the member's in another tenant.
pub(crate) async fn an_access_change_closes_the_subjects_sessions_everywhere(
    backend: Backend,
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
) {
    let cluster = Cluster::new(backend, a, b, NO_CHECK).await;
    let mut near = cluster.a.connect_as("t", "bob").await;
    let mut far = cluster.b.connect_as("t", "bob").await;
    let mut colleague = cluster.b.connect_as("t", "carl").await;
    let mut elsewhere = cluster.b.connect_as("u", "bob").await;
    // Once a change from A reached B, B listens on the bus: a notice now reaches it.
    near.write("e1", "a1", "before").await;
    far.data_update().await;
    colleague.data_update().await;
    assert_eq!(cluster.a.engine.close_subject(&tenant(), "bob"), 1);
    assert_eq!(near.closed().await, close::POLICY);
    assert_eq!(far.closed().await, close::POLICY);
    for open in [&mut colleague, &mut elsewhere] {
        open.send(serde_json::json!({"type": "ping", "timestamp": 1}))
            .await;
        assert_eq!(open.recv().await["type"], "pong");
    }
    cluster.close().await;
}
