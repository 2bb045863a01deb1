//! Nothing is lost or duplicated: a client dropped mid-sync, a server restarted in the
//! middle of a large flush, a long offline period caught up page by page, a purged
//! history reloaded, and refusals, silences and retries against a scripted server.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sync_client::Event;
use sync_client::outbox::Status as EntryStatus;
use sync_core::change::Change;
use sync_core::protocol::{self, Entry};
use sync_core::store::Store;
use tokio::sync::broadcast::error::TryRecvError;

const SYNC: Duration = Duration::from_secs(60);

/// Local writes made while the server is down, then a client dropped without `close`:
/// a new client on the same database sends them, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_a_dropped_client_are_sent_by_the_next_one() {
    let dir = Dir::new();
    let address = free_address().await;
    let url = format!("ws://{address}/ws");
    {
        let a = client(&url, &dir.db("a")).await;
        for n in 0..20 {
            a.put(&Account::new(&format!("acc-{n:02}"), "new", f64::from(n)))
                .await
                .unwrap();
        }
        for n in 0..5 {
            a.put(&Account::new(
                &format!("acc-{n:02}"),
                "edited",
                f64::from(n),
            ))
            .await
            .unwrap();
        }
        for n in 17..20 {
            assert!(a.delete::<Account>(&format!("acc-{n:02}")).await.unwrap());
        }
        a.put(&Tag::new("t1", "one")).await.unwrap();
        a.put(&Tag::new("t2", "two")).await.unwrap();
        // Dropped without close(): the background task stops with it.
    }

    let a = client(&url, &dir.db("a")).await;
    assert_eq!(
        a.outbox().await.unwrap().len(),
        19,
        "17 accounts and 2 tags wait; the 3 deleted creates cancelled out"
    );
    let server = Server::start_at(&dir.data(), address).await;
    sync(&a, SYNC).await;
    assert_eq!(server.cursor().await, 19, "each change stored once");
    assert_eq!(rows(&server.snapshot().await, "accounts").len(), 17);
    assert_eq!(
        rows(&server.snapshot().await, "accounts")[0]["name"],
        "edited"
    );
    assert_converged(&server, &[&a]).await;
    assert!(a.outbox().await.unwrap().is_empty());
}

/// Entries sent and never answered when the process dies are pending again at the next
/// start, under the same ids. The server had processed them (their ACKs were lost), so
/// sending them again stores nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_in_flight_when_the_process_dies_are_sent_again_and_stored_once() {
    let dir = Dir::new();
    let mut fake = FakeServer::start().await;
    // Room for every batch: nothing is answered.
    let a = builder(&fake.url(), &dir.db("a"))
        .max_in_flight(10)
        .build()
        .await
        .unwrap();
    for n in 0..10 {
        a.put(&Account::new(&format!("acc-{n}"), "sent", f64::from(n)))
            .await
            .unwrap();
    }
    // The client sends while the writes go on: the entries may come in several batches.
    let mut entries: Vec<Value> = Vec::new();
    while entries.len() < 10 {
        let batch = fake.next().await;
        assert_eq!(batch["type"], "process_sync_batch");
        entries.extend(batch["entries"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(entries.len(), 10);
    eventually("every entry processing", SYNC, || async {
        a.outbox()
            .await
            .unwrap()
            .iter()
            .all(|entry| entry.status == EntryStatus::Processing)
    })
    .await;
    drop(a);

    // The server got the batch and committed it; the answers never reached the client.
    let address = free_address().await;
    let server = Server::start_at(&dir.data(), address).await;
    let changes: Vec<Change> = entries
        .iter()
        .map(|entry| {
            let entry = serde_json::from_value::<Entry>(entry.clone()).unwrap();
            protocol::to_change(&entry, &tenant()).unwrap()
        })
        .collect();
    let outcomes = server.store.apply(&tenant(), &changes).await.unwrap();
    assert_eq!(server.cursor().await, 10, "{outcomes:?}");
    server.stop().await;

    let a = client(&format!("ws://{address}/ws"), &dir.db("a")).await;
    let outbox = a.outbox().await.unwrap();
    let sent: BTreeSet<&str> = entries
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    assert!(
        outbox
            .iter()
            .all(|entry| entry.status == EntryStatus::Pending),
        "{outbox:?}"
    );
    assert_eq!(
        outbox
            .iter()
            .map(|entry| entry.id.as_str())
            .collect::<BTreeSet<_>>(),
        sent,
        "the same change ids"
    );

    let server = Server::start_at(&dir.data(), address).await;
    sync(&a, SYNC).await;
    assert_eq!(
        server.cursor().await,
        10,
        "the retries were recognised as duplicates"
    );
    assert_converged(&server, &[&a]).await;
    assert!(a.outbox().await.unwrap().is_empty());
}

/// 5,000 local changes; the server is restarted while they are being sent. Every
/// acknowledged change is stored, and in the end every change is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_in_the_middle_of_a_5000_entry_flush_loses_and_duplicates_nothing() {
    const COUNT: usize = 5000;
    let dir = Dir::new();
    let address = free_address().await;
    let url = format!("ws://{address}/ws");
    // Small batches, so that the flush takes long enough to be interrupted.
    let a = builder(&url, &dir.db("a"))
        .batch_size(100)
        .max_in_flight(2)
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    for n in 0..COUNT {
        a.put(&Account::new(&format!("acc-{n:05}"), "bulk", n as f64))
            .await
            .unwrap();
    }
    eprintln!("{COUNT} local writes: {:?}", started.elapsed());

    let server = Server::start_at(&dir.data(), address).await;
    let flush_started = Instant::now();
    eventually("the flush to be under way", SYNC, || async {
        let status = a.status().borrow().clone();
        status.pending + status.processing <= (COUNT as u64) * 3 / 5
    })
    .await;
    server.stop().await;
    let interrupted_after = flush_started.elapsed();

    let waiting: BTreeSet<String> = a
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.entity_id)
        .collect();
    assert!(
        !waiting.is_empty(),
        "the restart came in the middle of the flush"
    );
    let stored: BTreeSet<String> = rows(&server.snapshot().await, "accounts")
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    let acknowledged = (0..COUNT)
        .map(|n| format!("acc-{n:05}"))
        .filter(|id| !waiting.contains(id));
    for id in acknowledged {
        assert!(
            stored.contains(&id),
            "{id} was acknowledged but is not stored"
        );
    }
    eprintln!(
        "restarted after {interrupted_after:?}, {} of {COUNT} entries still waiting",
        waiting.len()
    );

    let server = Server::start_at(&dir.data(), address).await;
    let resumed = Instant::now();
    sync(&a, SYNC).await;
    eprintln!(
        "rest of the flush after the restart: {:?}",
        resumed.elapsed()
    );
    let feed = server
        .store
        .changes_since(&tenant(), 0, 10_000)
        .await
        .unwrap();
    let ids: BTreeSet<&str> = feed
        .changes
        .iter()
        .map(|change| change.entity_id.as_str())
        .collect();
    assert_eq!(
        (feed.changes.len(), ids.len()),
        (COUNT, COUNT),
        "each entity once in the feed"
    );
    assert_eq!(
        server.cursor().await,
        COUNT as u64,
        "no change was applied twice"
    );
    assert_converged(&server, &[&a]).await;
    assert_eq!(a.cursor().await.unwrap(), COUNT as u64);
}

/// A client offline while 10,000 changes happen catches up through pages of the change
/// feed from its cursor, not through a full reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_offline_period_is_caught_up_page_by_page() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let address = server.address;
    let seed: Vec<Change> = (0..10)
        .map(|n| Change::upsert(&Account::new(&format!("seed-{n}"), "seed", 0.0)).unwrap())
        .collect();
    server.store.apply(&tenant(), &seed).await.unwrap();
    let a = client(&server.url(), &dir.db("a")).await;
    sync(&a, SYNC).await;
    assert_eq!(a.cursor().await.unwrap(), 10);
    a.close().await.unwrap();
    server.stop().await;

    // 10,000 changes: 9,500 new accounts, then 500 of them deleted.
    for chunk in 0..10 {
        let changes: Vec<Change> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|n| match n {
                0..9500 => {
                    Change::upsert(&Account::new(&format!("n-{n:05}"), "bulk", f64::from(n)))
                        .unwrap()
                }
                _ => Change::delete("Account", format!("n-{:05}", n - 9500)),
            })
            .collect();
        server.store.apply(&tenant(), &changes).await.unwrap();
    }
    assert_eq!(server.cursor().await, 10_010);

    let a = builder(&server.url(), &dir.db("a"))
        .event_capacity(20_000)
        .build()
        .await
        .unwrap();
    let mut events = a.events();
    let server = Server::start_at(&dir.data(), address).await;
    let started = Instant::now();
    sync(&a, SYNC).await;
    eprintln!("caught up on 10,000 changes in {:?}", started.elapsed());

    assert_eq!(a.cursor().await.unwrap(), server.cursor().await);
    let (mut changed, mut reloaded) = (0, 0);
    loop {
        match events.try_recv() {
            Ok(Event::Changed(_)) => changed += 1,
            Ok(_) => reloaded += 1,
            Err(TryRecvError::Empty) => break,
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(reloaded, 0, "no full reload");
    assert_eq!(
        changed, 9500,
        "each changed entity once, the seed untouched"
    );
    assert_converged(&server, &[&a]).await;
    assert_eq!(a.list::<Account>().await.unwrap().len(), 10 + 9000);
}

/// A cursor older than the server's tombstone horizon gets `reset`: the replica is
/// reloaded from cursor 0, keeping the local changes that wait in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_history_reloads_the_replica_and_keeps_local_changes() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let address = server.address;
    let a = client(&server.url(), &dir.db("a")).await;
    for id in ["keep", "edit", "gone"] {
        a.put(&Account::new(id, id, 1.0)).await.unwrap();
    }
    sync(&a, SYNC).await;
    a.close().await.unwrap();
    server.stop().await;

    server
        .store
        .apply(&tenant(), &[Change::delete("Account", "gone")])
        .await
        .unwrap();
    server
        .store
        .apply(
            &tenant(),
            &[Change::upsert(&Account::new("new", "new", 2.0)).unwrap()],
        )
        .await
        .unwrap();
    let horizon = sync_core::version::Version::now().add_millis(86_400_000);
    let purge = server
        .store
        .purge_tombstones(&tenant(), horizon)
        .await
        .unwrap();
    assert_eq!(purge.removed, 1);

    let a = client(&server.url(), &dir.db("a")).await;
    let mut events = a.events();
    let edited = a
        .put(&Account::new("edit", "edited offline", 3.0))
        .await
        .unwrap();
    let server = Server::start_at(&dir.data(), address).await;
    sync(&a, SYNC).await;

    let mut saw_reload = false;
    while let Ok(event) = events.try_recv() {
        saw_reload |= event == Event::Reloaded;
    }
    assert!(saw_reload, "the client reloaded");
    assert_converged(&server, &[&a]).await;
    let ids: Vec<String> = a
        .list::<Account>()
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.id)
        .collect();
    assert_eq!(ids, ["edit", "keep", "new"]);
    assert_eq!(
        a.get::<Account>("edit").await.unwrap(),
        Some(edited),
        "the local change survived the reload"
    );
    assert_eq!(a.cursor().await.unwrap(), server.cursor().await);
}

/// An offline edit of an entity that another client deleted, whose tombstone the server
/// purged before the edit arrived: the server refuses it (`expired`) instead of bringing
/// the entity back, and the app's `discard_failed` leaves the replica equal to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_edit_of_a_purged_entity_is_refused_not_resurrected() {
    let dir = Dir::new();
    let server = Server::start(&dir.data()).await;
    let address = server.address;
    let a = client(&server.url(), &dir.db("a")).await;
    for id in ["keep", "gone"] {
        a.put(&Account::new(id, id, 1.0)).await.unwrap();
    }
    sync(&a, SYNC).await;
    a.close().await.unwrap();
    server.stop().await;

    // Offline, the app edits "gone"...
    let a = client(&server.url(), &dir.db("a")).await;
    a.put(&Account::new("gone", "edited offline", 2.0))
        .await
        .unwrap();
    a.close().await.unwrap();
    // ...while another client deletes it and the server purges the tombstone.
    server
        .store
        .apply(&tenant(), &[Change::delete("Account", "gone")])
        .await
        .unwrap();
    let horizon = sync_core::version::Version::now().add_millis(86_400_000);
    let purge = server
        .store
        .purge_tombstones(&tenant(), horizon)
        .await
        .unwrap();
    assert_eq!(purge.removed, 1);

    let a = client(&server.url(), &dir.db("a")).await;
    let server = Server::start_at(&dir.data(), address).await;
    eventually("the offline edit to fail", SYNC, || async {
        a.status().borrow().failed == 1
    })
    .await;
    let failed = a.failed().await.unwrap();
    assert_eq!(failed[0].reason.as_deref(), Some("expired"), "{failed:?}");
    assert_eq!(
        server
            .store
            .get_state(&tenant(), "Account", "gone")
            .await
            .unwrap(),
        None,
        "the server did not bring the entity back"
    );
    assert_eq!(a.discard_failed().await.unwrap(), 1);
    sync(&a, SYNC).await;
    assert_converged(&server, &[&a]).await;
    assert_eq!(a.get::<Account>("gone").await.unwrap(), None);
}

/// A retryable refusal is retried after a backoff under the same change id; a batch left
/// unanswered is sent again on a new connection; too many attempts fail the entry, and
/// `retry_failed` gives it another chance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_silences_and_retries_keep_the_change_id() {
    let dir = Dir::new();
    let mut fake = FakeServer::start().await;
    let a = builder(&fake.url(), &dir.db("a"))
        .retry_backoff(Duration::from_millis(100), Duration::from_millis(200))
        .answer_timeout(Duration::from_millis(500))
        .max_attempts(3)
        .build()
        .await
        .unwrap();
    a.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();

    let first = fake.next().await;
    let entry = &first["entries"][0];
    let id = entry["id"].as_str().unwrap().to_owned();
    assert_eq!(entry["entityId"], "acc");
    assert_eq!(entry["tenantId"], TENANT);
    assert_eq!(entry["operationType"], "create");
    assert_eq!(entry["payload"]["name"], "Giro");
    let nack = |id: &str| {
        json!({"type": "sync_nack", "id": id, "status": "failed", "entityId": "acc", "entityType": "Account",
               "operationType": "create", "reason": "overloaded", "detail": "busy", "retryable": true})
    };
    let sent = Instant::now();
    fake.send(nack(&id));

    // Retried after the backoff, same id.
    let second = fake.next().await;
    assert_eq!(second["entries"][0]["id"], id.as_str());
    assert!(
        sent.elapsed() >= Duration::from_millis(50),
        "retried after a backoff, not at once"
    );
    // No answer: after the answer timeout the client reconnects and sends it again.
    let third = fake.next().await;
    assert_eq!(third["entries"][0]["id"], id.as_str());
    assert!(
        fake.connections.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "on a new connection"
    );
    // The third refusal is one too many.
    fake.send(nack(&id));
    eventually("the entry to fail", SYNC, || async {
        a.status().borrow().failed == 1
    })
    .await;
    let failed = a.failed().await.unwrap();
    assert_eq!(failed[0].reason.as_deref(), Some("overloaded"));
    assert!(
        failed[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{failed:?}"
    );

    assert_eq!(a.retry_failed().await.unwrap(), 1);
    let fourth = fake.next().await;
    assert_eq!(fourth["entries"][0]["id"], id.as_str());
    fake.send(json!({"type": "sync_ack", "id": id, "status": "processed", "entityId": "acc", "entityType": "Account",
                     "operationType": "create", "outcome": "applied", "updated_at": entry["payload"]["updated_at"], "cursor": 1}));
    eventually("the outbox to empty", SYNC, || async {
        a.outbox().await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        a.cursor().await.unwrap(),
        1,
        "the batch's change was the only one after the cursor"
    );
}
