//! Clients against a real server on 127.0.0.1: changes flow between clients, offline
//! edits converge, the outbox coalesces, the status follows the connection, and refused
//! changes fail with their reason.

mod common;

use std::time::Duration;

use common::*;
use sync_client::event::{Changed, Event, Source};
use sync_client::status::Connection;
use sync_core::Registry;
use tokio::sync::broadcast;

const SYNC: Duration = Duration::from_secs(20);

/// The next change event for which `wanted` holds.
async fn next_change(
    events: &mut broadcast::Receiver<Event>,
    wanted: impl Fn(&Changed) -> bool,
) -> Changed {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s");
        match event {
            Ok(Event::Changed(changed)) if wanted(&changed) => return changed,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the event channel closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_the_other_client_and_a_delete_removes_it() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let a = client(&server.url(), &dir.db("a")).await;
    let b = client(&server.url(), &dir.db("b")).await;
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;

    let mut b_events = b.events();
    let stored = a.put(&Account::new("acc-1", "Giro", 10.5)).await.unwrap();
    let seen = next_change(&mut b_events, |changed| changed.entity_id == "acc-1").await;
    assert_eq!(seen.source, Source::Remote);
    assert_eq!(seen.entity::<Account>().unwrap(), Some(stored.clone()));
    assert_eq!(b.get::<Account>("acc-1").await.unwrap(), Some(stored));

    let mut a_events = a.events();
    assert!(b.delete::<Account>("acc-1").await.unwrap());
    let gone = next_change(&mut a_events, |changed| changed.entity_id == "acc-1").await;
    assert!(gone.deleted);
    assert_eq!(gone.source, Source::Remote);
    assert_eq!(a.get::<Account>("acc-1").await.unwrap(), None);

    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    assert_converged(&server, &[&a, &b]).await;
    assert_eq!(a.cursor().await.unwrap(), server.cursor().await);
    assert_eq!(b.cursor().await.unwrap(), server.cursor().await);
}

/// Both clients edit while the server is down, then it comes back on the same address and
/// data directory. The newer edit wins everywhere, a delete newer than an edit wins, and
/// every replica ends equal to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_converge_when_the_server_returns() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let address = server.address;
    let a = client(&server.url(), &dir.db("a")).await;
    let b = client(&server.url(), &dir.db("b")).await;
    for (id, name) in [
        ("shared", "shared"),
        ("contested", "contested"),
        ("doomed", "doomed"),
        ("x1", "x1"),
        ("x2", "x2"),
    ] {
        a.put(&Account::new(id, name, 0.0)).await.unwrap();
    }
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    assert_converged(&server, &[&a, &b]).await;

    server.stop().await;
    // Each client's clock is corrected by its own estimate of the server's (within a few
    // milliseconds here): steps well above that order the edits.
    let step = || tokio::time::sleep(Duration::from_millis(50));
    // Different entities on each side.
    a.put(&Account::new("x1", "x1 by a", 1.0)).await.unwrap();
    b.put(&Account::new("x2", "x2 by b", 2.0)).await.unwrap();
    a.put(&Tag::new("a-new", "made by a")).await.unwrap();
    b.put(&Tag::new("b-new", "made by b")).await.unwrap();
    // The same entities at different times.
    a.put(&Account::new("shared", "older, by a", 3.0))
        .await
        .unwrap();
    step().await;
    b.put(&Account::new("contested", "older, by b", 4.0))
        .await
        .unwrap();
    b.put(&Account::new(
        "doomed",
        "edited by b before a deleted it",
        5.0,
    ))
    .await
    .unwrap();
    step().await;
    a.put(&Account::new("contested", "newer, by a", 6.0))
        .await
        .unwrap();
    assert!(a.delete::<Account>("doomed").await.unwrap());
    step().await;
    b.put(&Account::new("shared", "newer, by b", 7.0))
        .await
        .unwrap();

    let server = Server::start_at(&dir.data(), address).await;
    // a first: its changes are applied. Then b: its older edits lose to a's (superseded,
    // by a live row and by a tombstone), its newer one wins. Then a again, to catch up.
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    sync(&a, SYNC).await;

    assert_converged(&server, &[&a, &b]).await;
    for client in [&a, &b] {
        assert_eq!(
            client.get::<Account>("doomed").await.unwrap(),
            None,
            "a delete newer than an edit wins"
        );
        assert_eq!(
            client.get::<Account>("shared").await.unwrap().unwrap().name,
            "newer, by b"
        );
        assert_eq!(
            client
                .get::<Account>("contested")
                .await
                .unwrap()
                .unwrap()
                .name,
            "newer, by a"
        );
        assert_eq!(
            client.get::<Account>("x1").await.unwrap().unwrap().name,
            "x1 by a"
        );
        assert_eq!(
            client.get::<Account>("x2").await.unwrap().unwrap().name,
            "x2 by b"
        );
        assert_eq!(client.list::<Tag>().await.unwrap().len(), 2);
        assert!(client.outbox().await.unwrap().is_empty());
        assert!(client.failed().await.unwrap().is_empty());
    }
}

/// The same, with the server up and only one client's connection cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_off_catches_up_and_its_edits_arrive() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let proxy = Proxy::start(server.address).await;
    let a = client(&proxy.url(), &dir.db("a")).await;
    let b = client(&server.url(), &dir.db("b")).await;
    a.put(&Account::new("acc", "first", 1.0)).await.unwrap();
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;

    proxy.refuse(true);
    proxy.cut();
    eventually("a offline", SYNC, || async {
        a.status().borrow().connection == Connection::Offline
    })
    .await;
    a.put(&Account::new("acc", "by a, offline", 2.0))
        .await
        .unwrap();
    a.put(&Tag::new("t", "by a, offline")).await.unwrap();
    // Well past the error of each client's clock correction (the welcome's latency, tens of
    // milliseconds on a loaded machine), so B's edit is later by every client's clock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.put(&Account::new("acc", "by b, later", 3.0))
        .await
        .unwrap();
    b.put(&Account::new("other", "by b", 4.0)).await.unwrap();
    sync(&b, SYNC).await;

    proxy.refuse(false);
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    assert_converged(&server, &[&a, &b]).await;
    assert_eq!(
        a.get::<Account>("acc").await.unwrap().unwrap().name,
        "by b, later"
    );
    assert_eq!(
        b.get::<Tag>("t").await.unwrap().unwrap().name,
        "by a, offline"
    );
}

/// 100 offline edits of one entity are one outbox entry, and one change on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_of_one_entity_are_sent_as_one_change() {
    let dir = Dir::new();
    let address = free_address().await;
    let a = client(&format!("ws://{address}/ws"), &dir.db("a")).await;
    for balance in 0..100 {
        a.put(&Account::new("acc", "Giro", f64::from(balance)))
            .await
            .unwrap();
    }
    // A create that is deleted before it is ever sent leaves nothing to send.
    a.put(&Tag::new("fleeting", "gone soon")).await.unwrap();
    assert!(a.delete::<Tag>("fleeting").await.unwrap());
    let outbox = a.outbox().await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].operation, sync_core::change::Operation::Create);
    assert_eq!(a.status().borrow().pending, 1);

    let server = Server::start_at(&dir.data(), address).await;
    let before = server.cursor().await;
    sync(&a, SYNC).await;
    assert_eq!(
        server.cursor().await,
        before + 1,
        "the server received one change"
    );
    assert_eq!(
        rows(&server.snapshot().await, "accounts")[0]["balance"],
        99.0
    );
    assert_eq!(
        rows(&server.snapshot().await, "tags"),
        Vec::<serde_json::Value>::new()
    );
    assert_converged(&server, &[&a]).await;
}

/// The status goes offline → connecting → online, and the pending count reaches 0 after
/// `sync_now`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_follows_the_connection_and_the_outbox() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let proxy = Proxy::start(server.address).await;
    proxy.refuse(true);
    let a = builder(&proxy.url(), &dir.db("a"))
        .reconnect_backoff(Duration::from_millis(100), Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let mut status = a.status();
    let recorder = tokio::spawn(async move {
        let mut seen = vec![status.borrow_and_update().connection];
        while status.changed().await.is_ok() {
            let connection = status.borrow_and_update().connection;
            if seen.last() != Some(&connection) {
                seen.push(connection);
            }
            if connection == Connection::Online {
                break;
            }
        }
        seen
    });
    eventually("a failed connection attempt", SYNC, || async {
        let status = a.status().borrow().clone();
        status.connection == Connection::Offline && status.last_error.is_some()
    })
    .await;
    for id in ["a", "b", "c"] {
        a.put(&Account::new(id, id, 1.0)).await.unwrap();
    }
    assert_eq!(a.status().borrow().pending, 3);
    let offline = a.sync_now(Duration::from_secs(5)).await;
    assert!(
        matches!(offline, Err(sync_client::Error::Offline(_))),
        "{offline:?}"
    );

    // The next attempt is held 300 ms by the proxy: long enough to be seen connecting.
    proxy.delay(Duration::from_millis(300));
    proxy.refuse(false);
    sync(&a, SYNC).await;
    let seen = recorder.await.unwrap();
    assert!(
        seen.ends_with(&[
            Connection::Offline,
            Connection::Connecting,
            Connection::Online
        ]),
        "{seen:?}"
    );
    let status = a.status().borrow().clone();
    assert_eq!(
        (status.pending, status.processing, status.failed),
        (0, 0, 0)
    );
    assert!(status.last_sync.is_some());
    assert_eq!(status.last_error, None);
    assert_eq!(status.cursor, 3);
    assert_eq!(status.server_cursor, Some(3));

    a.close().await.unwrap();
    assert_eq!(a.status().borrow().connection, Connection::Closed);
    assert!(matches!(
        a.list::<Account>().await,
        Err(sync_client::Error::Closed)
    ));
}

/// `close()` and dropping the last handle both end the connection and the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_or_dropping_the_client_ends_its_connection() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let a = client(&server.url(), &dir.db("a")).await;
    let b = client(&server.url(), &dir.db("b")).await;
    let a_clone = a.clone();
    sync(&a, SYNC).await;
    sync(&b, SYNC).await;
    assert_eq!(server.connections(), 2);

    a.close().await.unwrap();
    assert!(
        matches!(
            a_clone.put(&Tag::new("t", "t")).await,
            Err(sync_client::Error::Closed)
        ),
        "clones are closed too"
    );
    eventually("a's connection to close", SYNC, || async {
        server.connections() == 1
    })
    .await;
    drop(b);
    eventually("b's connection to close", SYNC, || async {
        server.connections() == 0
    })
    .await;
}

/// A change the server refuses for good fails with its reason; it can be retried, and
/// discarding it puts the replica back to what the server holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_fails_with_its_reason_and_can_be_discarded() {
    let dir = Dir::new();
    // This server does not know tags.
    let accounts_only = Registry::builder().entity::<Account>().build().unwrap();
    let server =
        Server::start_with(&dir.data(), "127.0.0.1:0".parse().unwrap(), accounts_only).await;
    let a = client(&server.url(), &dir.db("a")).await;
    a.put(&Tag::new("t1", "travel")).await.unwrap();
    a.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();
    sync(&a, SYNC).await;

    let failed = a.failed().await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0].entity_type.as_str(), failed[0].entity_id.as_str()),
        ("Tag", "t1")
    );
    assert_eq!(failed[0].reason.as_deref(), Some("unknown_entity"));
    assert!(
        failed[0]
            .detail
            .as_deref()
            .is_some_and(|detail| !detail.is_empty())
    );
    assert_eq!(a.status().borrow().failed, 1);
    assert!(
        a.get::<Account>("acc").await.unwrap().is_some(),
        "the other change went through"
    );

    assert_eq!(a.retry_failed().await.unwrap(), 1);
    sync(&a, SYNC).await;
    assert_eq!(a.failed().await.unwrap().len(), 1, "refused again");

    assert_eq!(a.discard_failed().await.unwrap(), 1);
    assert_eq!(
        a.get::<Tag>("t1").await.unwrap(),
        None,
        "the server never had it"
    );
    assert!(a.outbox().await.unwrap().is_empty());
    assert_eq!(a.status().borrow().failed, 0);
}

/// `wss://` through rustls, with a certificate the client was told to trust; a client
/// that does not trust it stays offline and says why.
#[cfg(feature = "rustls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_connects_through_tls() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let tls = TlsProxy::start(server.address).await;
    let url = format!("wss://localhost:{}/ws", tls.port);

    let a = builder(&url, &dir.db("a"))
        .tls_config(tls.client_config.clone())
        .build()
        .await
        .unwrap();
    a.put(&Account::new("acc", "over TLS", 1.0)).await.unwrap();
    sync(&a, SYNC).await;
    assert_converged(&server, &[&a]).await;

    // The default roots do not include the self-signed certificate.
    let untrusting = client(&url, &dir.db("b")).await;
    let refused = untrusting.sync_now(SYNC).await.unwrap_err();
    assert!(
        matches!(refused, sync_client::Error::Offline(_)),
        "{refused}"
    );
    let reason = untrusting
        .status()
        .borrow()
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
}
