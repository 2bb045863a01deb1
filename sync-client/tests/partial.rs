//! Partial sync end to end: a real server with the testkit's streamed registry (`Payment`
//! with the stream `payments_by_account`, drafts filtered out), a writer that syncs the
//! whole tenant, and readers that subscribe to buckets.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use sync_client::event::{Event, Source};
use sync_client::status::Connection;
use sync_client::subscription::{State, SubscriptionId};
use sync_client::transport::{self, BoxError, Connector, Frame, Transport};
use sync_client::{Builder, Client};
use sync_core::store::sqlite::Synchronous;
use sync_testkit::entities::{Account, Grant, Note, Payment};

/// The JWT check, with every principal an editor (`notes_by_account` needs a member).
struct Editors(sync_axum::jwt::JwtAuthenticator);

impl sync_axum::Authenticator for Editors {
    async fn authenticate(
        &self,
        request: &http::request::Parts,
        tenant: &sync_core::TenantId,
    ) -> Result<sync_axum::Principal, sync_axum::Refusal> {
        let principal = self.0.authenticate(request, tenant).await?;
        Ok(principal.with_role("editor"))
    }
}

use common::{Dir, FakeServer, Proxy, Server, TENANT, eventually, sync};

const SYNC: Duration = Duration::from_secs(20);
const STREAM: &str = "payments_by_account";

async fn server(dir: &Dir) -> Server {
    Server::start_with(
        &dir.data(),
        "127.0.0.1:0".parse().unwrap(),
        sync_testkit::entities::streamed(),
    )
    .await
}

fn builder(url: &str, path: &Path) -> Builder {
    Client::builder(url)
        .tenant(TENANT)
        .database(path)
        .entity::<Account>()
        .entity::<Payment>()
        .synchronous(Synchronous::Normal)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(3))
        .answer_timeout(Duration::from_secs(10))
}

async fn client(url: &str, path: &Path) -> Client {
    builder(url, path).build().await.unwrap()
}

fn payment(id: &str, account: &str, amount: i64) -> Payment {
    Payment {
        id: id.into(),
        account_id: account.into(),
        amount,
        draft: false,
        updated_at: None,
    }
}

/// The ids of the payments in the replica.
async fn ids(client: &Client) -> Vec<String> {
    client
        .list::<Payment>()
        .await
        .unwrap()
        .into_iter()
        .map(|payment| payment.id)
        .collect()
}

/// Waits until `client` is offline (its proxy cut and refusing).
async fn offline(client: &Client, proxy: &Proxy) {
    proxy.refuse(true);
    proxy.cut();
    eventually("offline", SYNC, || async {
        client.status().borrow().connection == Connection::Offline
    })
    .await;
}

/// Every event received so far.
fn drain(events: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut drained = Vec::new();
    while let Ok(event) = events.try_recv() {
        drained.push(event);
    }
    drained
}

/// The `Changed` events of payment `id` in `events`, as (deleted, account, source).
fn changes_of(events: &[Event], id: &str) -> Vec<(bool, Option<String>, Source)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Changed(changed) if changed.is::<Payment>() && changed.entity_id == id => {
                let account = changed.data["accountId"].as_str().map(str::to_owned);
                Some((changed.deleted, account, changed.source))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_loads_only_its_bucket_and_follows_it_live() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "B", 20)).await.unwrap();
    writer
        .put(&Payment {
            draft: true,
            ..payment("p3", "A", 30)
        })
        .await
        .unwrap();
    writer.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();
    sync(&writer, SYNC).await;

    let reader = client(&server.url(), &dir.db("reader")).await;
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1"], "p2 is in B, p3 is a draft");
    assert_eq!(
        reader.list::<Account>().await.unwrap().len(),
        1,
        "other entities sync whole"
    );
    let listed = reader.subscriptions().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0].id, listed[0].state), (&id, State::Active));
    assert!(
        listed[0].cursor.is_some_and(|cursor| cursor >= 4),
        "{listed:?}"
    );
    assert!(listed[0].definition.is_some());
    assert_eq!(listed[0].buckets.as_deref(), Some(&["A".to_owned()][..]));

    // Live: a new row in A arrives, one in B does not, a row moved out of A leaves.
    writer.put(&payment("p4", "A", 40)).await.unwrap();
    writer.put(&payment("p5", "B", 50)).await.unwrap();
    writer.put(&payment("p1", "B", 10)).await.unwrap();
    sync(&writer, SYNC).await;
    eventually("p4 in, p1 out", SYNC, || async {
        ids(&reader).await == ["p4"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_applied_checkpoint_is_an_event_with_the_cursor_the_subscription_now_has() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "B", 20)).await.unwrap();
    sync(&writer, SYNC).await;

    let reader = client(&server.url(), &dir.db("reader")).await;
    let mut events = reader.events();
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    let cursor = |listed: &[sync_client::subscription::Subscription]| listed[0].cursor;
    let caught_up = cursor(&reader.subscriptions().await.unwrap());
    let drained = drain(&mut events);
    let checkpoints: Vec<_> = drained
        .iter()
        .filter_map(|event| match event {
            Event::Checkpoint(checkpoint) => Some(checkpoint.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(checkpoints.len(), 1, "the catch-up's own: {drained:?}");
    assert_eq!(
        (
            Some(checkpoints[0].cursor),
            &checkpoints[0].subscriptions[..]
        ),
        (caught_up, &[id.clone()][..])
    );
    assert!(
        matches!(drained.last(), Some(Event::Checkpoint(_))),
        "after the rows it completes: {drained:?}"
    );

    // Live: the checkpoint after p3 moves the cursor to p3's sequence number.
    writer.put(&payment("p3", "A", 30)).await.unwrap();
    sync(&writer, SYNC).await;
    let live = loop {
        match tokio::time::timeout(SYNC, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Checkpoint(checkpoint) => break checkpoint,
            Event::Changed(changed) => assert_eq!(changed.entity_id, "p3"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(live.subscriptions, [id]);
    assert!(
        Some(live.cursor) > caught_up,
        "{live:?} after {caught_up:?}"
    );
    assert_eq!(
        cursor(&reader.subscriptions().await.unwrap()),
        Some(live.cursor)
    );
    assert_eq!(ids(&reader).await, ["p1", "p3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_synced_whole_keeps_only_its_subscribed_buckets_once_subscribed() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "B", 20)).await.unwrap();
    sync(&writer, SYNC).await;
    let reader = client(&server.url(), &dir.db("reader")).await;
    sync(&reader, SYNC).await;
    assert_eq!(
        ids(&reader).await,
        ["p1", "p2"],
        "whole, before any subscription"
    );

    reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(
        ids(&reader).await,
        ["p1"],
        "rows no bucket holds leave at the first checkpoint"
    );
    // And the whole-tenant feed no longer brings B's rows.
    writer.put(&payment("p3", "B", 30)).await.unwrap();
    sync(&writer, SYNC).await;
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_stays_partial_after_its_last_subscription_ends() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    sync(&writer, SYNC).await;
    let path = dir.db("reader");
    let reader = client(&server.url(), &path).await;
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1"]);

    reader.unsubscribe(&id, Duration::ZERO).await.unwrap();
    assert!(ids(&reader).await.is_empty());
    // The server sends the entity whole to a session without subscriptions; the replica
    // keeps holding only what subscriptions hold (none), also after a restart.
    reader.close().await.unwrap();
    writer.put(&payment("p2", "B", 20)).await.unwrap();
    writer.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();
    sync(&writer, SYNC).await;
    let reader = client(&server.url(), &path).await;
    sync(&reader, SYNC).await;
    assert!(ids(&reader).await.is_empty());
    assert_eq!(
        reader.list::<Account>().await.unwrap().len(),
        1,
        "others sync whole"
    );
    reader.subscribe::<Payment>(STREAM, ["B"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_moved_out_while_offline_is_gone_after_reconnect_and_other_buckets_stay() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "A", 20)).await.unwrap();
    writer.put(&payment("p3", "C", 30)).await.unwrap();
    sync(&writer, SYNC).await;
    let proxy = Proxy::start(server.address).await;
    let reader = client(&proxy.url(), &dir.db("reader")).await;
    reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    reader.subscribe::<Payment>(STREAM, ["C"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1", "p2", "p3"]);

    offline(&reader, &proxy).await;
    writer.put(&payment("p1", "B", 10)).await.unwrap();
    writer.put(&payment("p4", "A", 40)).await.unwrap();
    sync(&writer, SYNC).await;
    assert_eq!(
        ids(&reader).await,
        ["p1", "p2", "p3"],
        "offline: nothing changes"
    );

    proxy.refuse(false);
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p2", "p3", "p4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_subscriptions_store_a_row_once_and_keep_it_while_one_holds_it() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "B", 20)).await.unwrap();
    sync(&writer, SYNC).await;
    let reader = client(&server.url(), &dir.db("reader")).await;
    let _narrow = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    let wide = reader
        .subscribe::<Payment>(STREAM, ["A", "B"])
        .await
        .unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1", "p2"]);

    let mut events = reader.events();
    reader.unsubscribe(&wide, Duration::ZERO).await.unwrap();
    assert_eq!(
        ids(&reader).await,
        ["p1"],
        "p2 goes at once; p1 is still held by A"
    );
    let events = drain(&mut events);
    assert_eq!(changes_of(&events, "p1"), []);
    assert_eq!(changes_of(&events, "p2"), [(true, None, Source::Remote)]);
    assert_eq!(reader.subscriptions().await.unwrap().len(), 1);

    // The remaining subscription still syncs A, and B no longer arrives.
    writer.put(&payment("p1", "A", 11)).await.unwrap();
    writer.put(&payment("p3", "B", 30)).await.unwrap();
    sync(&writer, SYNC).await;
    eventually("p1 updated", SYNC, || async {
        reader
            .get::<Payment>("p1")
            .await
            .unwrap()
            .is_some_and(|p1| p1.amount == 11)
    })
    .await;
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_with_a_ttl_keeps_the_rows_until_it_passes() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    sync(&writer, SYNC).await;
    let reader = client(&server.url(), &dir.db("reader")).await;
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1"]);

    const TTL: Duration = Duration::from_secs(2);
    let started = std::time::Instant::now();
    reader.unsubscribe(&id, TTL).await.unwrap();
    let listed = reader.subscriptions().await.unwrap();
    assert!(matches!(listed[0].state, State::Warm { .. }), "{listed:?}");
    assert_eq!(ids(&reader).await, ["p1"], "warm");
    sync(&reader, SYNC).await;
    // Warm, not synced: a change of A does not arrive, and the row stays.
    writer.put(&payment("p1", "A", 11)).await.unwrap();
    sync(&writer, SYNC).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = reader.get::<Payment>("p1").await.unwrap();
    if started.elapsed() < TTL {
        assert_eq!(kept.map(|p1| p1.amount), Some(10));
    }

    eventually("the TTL passes", SYNC, || async {
        ids(&reader).await.is_empty()
    })
    .await;
    assert!(started.elapsed() >= TTL - Duration::from_millis(100));
    assert!(reader.subscriptions().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_subscription_expires_also_across_a_restart() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    sync(&writer, SYNC).await;
    let reader = client(&server.url(), &dir.db("reader")).await;
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    reader
        .unsubscribe(&id, Duration::from_millis(500))
        .await
        .unwrap();
    reader.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let reader = client(&server.url(), &dir.db("reader")).await;
    eventually("the expired rows go", SYNC, || async {
        ids(&reader).await.is_empty()
    })
    .await;
    assert!(reader.subscriptions().await.unwrap().is_empty());
}

/// A WebSocket connector that records every text frame the server sends.
struct Recording {
    url: String,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Connector for Recording {
    fn connect(&self) -> transport::Connecting {
        use tokio_tungstenite::tungstenite::Message;
        let (url, received) = (self.url.clone(), self.received.clone());
        Box::pin(async move {
            let (socket, _) = tokio_tungstenite::connect_async(format!("{url}/{TENANT}")).await?;
            let (sink, stream) = socket.split();
            let incoming = stream.filter_map(move |message| {
                let received = received.clone();
                async move {
                    match message {
                        Ok(Message::Text(text)) => {
                            if let Ok(json) = serde_json::from_str(&text) {
                                received.lock().unwrap().push(json);
                            }
                            Some(Ok(Frame::Text(text.to_string())))
                        }
                        Ok(Message::Close(_)) => Some(Ok(Frame::Close {
                            code: 1000,
                            reason: String::new(),
                        })),
                        Ok(_) => None,
                        Err(error) => Some(Err(BoxError::from(error))),
                    }
                }
            });
            let outgoing = sink.with(|frame: Frame| async move {
                Ok::<_, tokio_tungstenite::tungstenite::Error>(match frame {
                    Frame::Text(text) => Message::text(text),
                    _ => Message::Close(None),
                })
            });
            Ok(Transport::new(incoming, outgoing))
        })
    }
}

fn of_type(received: &Mutex<Vec<serde_json::Value>>, kind: &str) -> usize {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|message| message["type"] == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_client_resumes_its_subscription_from_its_cursor() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "A", 20)).await.unwrap();
    sync(&writer, SYNC).await;

    let first = Arc::new(Mutex::new(Vec::new()));
    let reader = builder("unused", &dir.db("reader"))
        .connector(Recording {
            url: server.url(),
            received: first.clone(),
        })
        .build()
        .await
        .unwrap();
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(
        of_type(&first, "bucket_snapshot"),
        1,
        "the first load is a snapshot"
    );
    let cursor = reader.subscriptions().await.unwrap()[0].cursor.unwrap();
    reader.close().await.unwrap();

    writer.put(&payment("p3", "A", 30)).await.unwrap();
    writer.put(&payment("p1", "B", 10)).await.unwrap();
    sync(&writer, SYNC).await;

    let second = Arc::new(Mutex::new(Vec::new()));
    let reader = builder("unused", &dir.db("reader"))
        .connector(Recording {
            url: server.url(),
            received: second.clone(),
        })
        .build()
        .await
        .unwrap();
    assert_eq!(
        reader.subscriptions().await.unwrap()[0].cursor,
        Some(cursor),
        "persisted"
    );
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p2", "p3"]);
    assert_eq!(
        of_type(&second, "bucket_snapshot"),
        0,
        "resumed, not reloaded"
    );
    let subscribed: Vec<serde_json::Value> = second
        .lock()
        .unwrap()
        .iter()
        .filter(|message| message["type"] == "subscribed")
        .cloned()
        .collect();
    assert_eq!(subscribed.len(), 1);
    assert_eq!(
        (&subscribed[0]["id"], &subscribed[0]["cursor"]),
        (&json!(id.as_str()), &json!(cursor))
    );
    let listed = reader.subscriptions().await.unwrap();
    assert!(listed[0].cursor.unwrap() > cursor, "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_edit_moving_the_row_out_stays_until_its_ack_then_leaves_without_a_revert() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "A", 20)).await.unwrap();
    sync(&writer, SYNC).await;
    let proxy = Proxy::start(server.address).await;
    let reader = client(&proxy.url(), &dir.db("reader")).await;
    reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;

    offline(&reader, &proxy).await;
    let mut events = reader.events();
    reader.put(&payment("p1", "B", 10)).await.unwrap();
    // Pinned by its pending change, though no subscribed bucket holds it any more.
    let p1 = reader.get::<Payment>("p1").await.unwrap().unwrap();
    assert_eq!(p1.account_id, "B");
    // Another client edits the other row meanwhile: the catch-up brings it.
    writer.put(&payment("p2", "A", 21)).await.unwrap();
    sync(&writer, SYNC).await;

    proxy.refuse(false);
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p2"]);
    assert_eq!(
        reader.get::<Payment>("p2").await.unwrap().unwrap().amount,
        21
    );
    assert!(reader.outbox().await.unwrap().is_empty());
    assert_eq!(
        changes_of(&drain(&mut events), "p1"),
        [
            (false, Some("B".to_owned()), Source::Local),
            (true, None, Source::Remote)
        ],
        "the edit, then the row leaving: never back in A"
    );
    let server_rows = common::server_rows::<Payment>(&server.snapshot().await);
    assert!(
        server_rows
            .iter()
            .any(|row| row["id"] == "p1" && row["accountId"] == "B")
    );

    // A local create in a subscribed bucket is held after its ACK (the server does not
    // send a writer its own puts).
    reader.put(&payment("p9", "A", 90)).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p2", "p9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_definition_reloads_and_keeps_the_rows_present_before_and_after() {
    let dir = Dir::new();
    let server = server(&dir).await;
    let writer = client(&server.url(), &dir.db("writer")).await;
    writer.put(&payment("p1", "A", 10)).await.unwrap();
    writer.put(&payment("p2", "A", 20)).await.unwrap();
    sync(&writer, SYNC).await;
    let path = dir.db("reader");
    let reader = client(&server.url(), &path).await;
    reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1", "p2"]);
    reader.close().await.unwrap();

    // The subscription was synced under another definition (an older app version), and
    // p2 left the bucket since.
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE \"_sync_subscriptions\" SET \"definition\" = 'an older definition'")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    writer.put(&payment("p2", "B", 20)).await.unwrap();
    writer.put(&payment("p3", "A", 30)).await.unwrap();
    sync(&writer, SYNC).await;

    // Held off by a proxy until the test watches its events.
    let proxy = Proxy::start(server.address).await;
    proxy.refuse(true);
    let reader = client(&proxy.url(), &path).await;
    let mut events = reader.events();
    proxy.refuse(false);
    sync(&reader, SYNC).await;
    assert_eq!(ids(&reader).await, ["p1", "p3"]);
    let events = drain(&mut events);
    assert_eq!(changes_of(&events, "p1"), [], "p1 never left the replica");
    assert_eq!(changes_of(&events, "p2"), [(true, None, Source::Remote)]);
    assert_eq!(
        changes_of(&events, "p3"),
        [(false, Some("A".to_owned()), Source::Remote)]
    );
    let listed = reader.subscriptions().await.unwrap();
    assert_eq!(
        listed[0].definition.as_deref(),
        Some(
            <Payment as sync_core::Syncable>::STREAMS[0]
                .definition()
                .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_checkpoint_before_its_subscribed_is_not_applied_and_the_catch_up_runs_again() {
    let dir = Dir::new();
    let mut fake = FakeServer::start().await;
    let reader = client(&fake.url(), &dir.db("reader")).await;
    let mut events = reader.events();
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    let subscribe = fake.next().await;
    assert_eq!(subscribe["type"], "subscribe", "{subscribe}");
    // The checkpoint comes first (its `subscribed` and snapshot were lost or are late).
    fake.send(json!({"type": "checkpoint", "cursor": 5, "subscription": id.as_str()}));
    asked_again_whole(&mut fake, &id).await;
    assert_eq!(reader.subscriptions().await.unwrap()[0].cursor, None);
    assert!(!applied_any_checkpoint(&mut events), "nothing was applied");

    // The catch-up asked again, whole and in order, is applied.
    let row = json!({"id": "p1", "accountId": "A", "amount": 10, "draft": false, "updated_at": "2026-01-01T00:00:01.000Z"});
    fake.send(json!({"type": "subscribed", "id": id.as_str(), "stream": STREAM, "definition": "d1", "buckets": ["A"], "cursor": 0}));
    fake.send(json!({"type": "bucket_snapshot", "subscription": id.as_str(), "stream": STREAM, "bucket": "A", "entity_type": "Payment", "cursor": 6, "rows": [row]}));
    fake.send(json!({"type": "checkpoint", "cursor": 6, "subscription": id.as_str()}));
    let checkpoint = next_checkpoint(&mut events).await;
    assert_eq!(
        (checkpoint.cursor, &checkpoint.subscriptions[..]),
        (6, &[id.clone()][..])
    );
    assert_eq!(ids(&reader).await, ["p1"]);
    assert_eq!(reader.subscriptions().await.unwrap()[0].cursor, Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_missing_a_frame_or_overtaken_by_a_live_page_is_not_applied_and_runs_again() {
    let Scripted {
        mut fake,
        reader,
        mut events,
        id,
        ..
    } = scripted(&["A"]).await;
    let p1 = payment_json("p1", "A", 10, 1);
    let p2 = payment_json("p2", "A", 20, 2);
    // The checkpoint counts one frame of its catch-up: the snapshot.
    let checkpoint = named_checkpoint(&id, 6, 1);

    // The snapshot was lost.
    fake.send(subscribed(&id, &["A"]));
    fake.send(checkpoint.clone());
    asked_again_whole(&mut fake, &id).await;

    // A live page newer than the checkpoint came before it: the frames came out of order
    // (the server sends a bucket's live pages after its catch-up's checkpoint).
    fake.send(subscribed(&id, &["A"]));
    fake.send(snapshot(&id, "A", 6, json!([p1])));
    fake.send(live_put(&p2, 7));
    fake.send(checkpoint);
    asked_again_whole(&mut fake, &id).await;
    assert_eq!(reader.subscriptions().await.unwrap()[0].cursor, None);
    assert!(
        !applied_any_checkpoint(&mut events),
        "no checkpoint was applied"
    );

    // Whole and in order, it is applied.
    fake.send(subscribed(&id, &["A"]));
    fake.send(snapshot(&id, "A", 7, json!([p1, p2])));
    fake.send(named_checkpoint(&id, 7, 1));
    let applied = next_checkpoint(&mut events).await;
    assert_eq!(
        (applied.cursor, &applied.subscriptions[..]),
        (7, &[id.clone()][..])
    );
    assert_eq!(ids(&reader).await, ["p1", "p2"]);
    assert_eq!(reader.subscriptions().await.unwrap()[0].cursor, Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_resolution_missing_a_frame_catches_up_again_even_past_a_lost_checkpoint() {
    let Scripted {
        mut fake,
        reader,
        mut events,
        id,
        ..
    } = scripted(&["A", "B"]).await;
    fake.send(subscribed(&id, &["A"]));
    fake.send(snapshot(&id, "A", 4, json!([])));
    fake.send(named_checkpoint(&id, 4, 1));
    assert_eq!(next_checkpoint(&mut events).await.cursor, 4);

    // Two re-resolutions (grants of B, then of another key): the first's snapshot and
    // checkpoint were lost, the second's snapshot too. Its checkpoint counts three frames
    // since `subscribed`; the client has one.
    fake.send(named_checkpoint(&id, 6, 3));
    let again = fake.next().await;
    assert_eq!(
        (&again["type"], &again["id"], &again["cursor"]),
        (&json!("subscribe"), &json!(id.as_str()), &json!(4)),
        "the subscription catches up again from its cursor: {again}"
    );
    assert_eq!(reader.subscriptions().await.unwrap()[0].cursor, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_checkpoint_that_comes_twice_is_applied_once() {
    let Scripted {
        mut fake,
        reader,
        mut events,
        id,
        ..
    } = scripted(&["A"]).await;
    let live = |cursor: u64| json!({"type": "checkpoint", "cursor": cursor, "pages": 1});
    fake.send(subscribed(&id, &["A"]));
    fake.send(snapshot(&id, "A", 5, json!([])));
    fake.send(named_checkpoint(&id, 5, 1));
    fake.send(live_put(&payment_json("p1", "A", 10, 1), 8));
    fake.send(live(8));
    // The catch-up's checkpoint again, late: it is neither applied (the cursor would go
    // back to 5) nor a reason to catch up again.
    fake.send(named_checkpoint(&id, 5, 1));
    fake.send(live(9));
    let mut applied = Vec::new();
    while applied.last() != Some(&9) {
        applied.push(next_checkpoint(&mut events).await.cursor);
    }
    assert_eq!(applied, [5, 8, 9]);
    assert_eq!(reader.subscriptions().await.unwrap()[0].cursor, Some(9));
    reader.put(&payment("p2", "A", 20)).await.unwrap();
    let next = fake.next().await;
    assert_eq!(
        next["type"], "process_sync_batch",
        "no subscribe again: {next}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_behind_an_applied_one_keeps_the_row_its_bucket_holds() {
    let dir = Dir::new();
    let mut fake = FakeServer::start().await;
    let reader = client(&fake.url(), &dir.db("reader")).await;
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    let subscribe = fake.next().await;
    assert_eq!(subscribe["type"], "subscribe", "{subscribe}");
    fake.send(json!({"type": "subscribed", "id": id.as_str(), "stream": STREAM, "definition": "d1", "buckets": ["A"], "cursor": 0}));
    fake.send(json!({"type": "bucket_snapshot", "subscription": id.as_str(), "stream": STREAM, "bucket": "A", "entity_type": "Payment", "cursor": 5, "rows": []}));
    fake.send(json!({"type": "checkpoint", "cursor": 5, "subscription": id.as_str()}));
    eventually("the catch-up", SYNC, || async {
        reader.subscriptions().await.unwrap()[0].cursor == Some(5)
    })
    .await;

    // A row created in A; while its create is in flight, an edit moves it to B.
    let mut events = reader.events();
    reader.put(&payment("p1", "A", 10)).await.unwrap();
    let create = fake.next().await;
    assert_eq!(create["type"], "process_sync_batch", "{create}");
    let created = create["entries"][0].clone();
    reader.put(&payment("p1", "B", 11)).await.unwrap();
    // The create is applied (the server sends a writer no page of its own put), then the
    // move is refused.
    fake.send(json!({"type": "sync_ack", "id": created["id"], "status": "processed", "entityId": "p1", "entityType": "Payment",
                     "operationType": "create", "outcome": "applied", "updated_at": created["payload"]["updated_at"], "cursor": 6, "seq": 6}));
    let update = fake.next().await;
    assert_eq!(update["type"], "process_sync_batch", "{update}");
    let moved = update["entries"][0]["id"].as_str().unwrap().to_owned();
    fake.send(json!({"type": "sync_nack", "id": moved, "reason": "forbidden", "detail": "not your bucket"}));
    eventually("the refusal", SYNC, || async {
        reader.failed().await.unwrap().len() == 1
    })
    .await;

    // The server's row is in A, which the replica holds: the refused edit fails as usual,
    // the row stays, and discarding the edit brings back the server's row.
    assert!(
        !drain(&mut events)
            .iter()
            .any(|event| matches!(event, Event::Dropped(_))),
        "the row is within reach"
    );
    assert_eq!(
        reader
            .get::<Payment>("p1")
            .await
            .unwrap()
            .unwrap()
            .account_id,
        "B"
    );
    reader.discard_failed().await.unwrap();
    let kept = reader.get::<Payment>("p1").await.unwrap().unwrap();
    assert_eq!((kept.account_id.as_str(), kept.amount), ("A", 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_edit_of_a_row_no_longer_held_is_dropped_and_reported() {
    let dir = Dir::new();
    let mut fake = FakeServer::start().await;
    let reader = client(&fake.url(), &dir.db("reader")).await;
    let id = reader.subscribe::<Payment>(STREAM, ["A"]).await.unwrap();
    let subscribe = fake.next().await;
    assert_eq!(subscribe["type"], "subscribe", "{subscribe}");
    assert_eq!(
        (&subscribe["id"], &subscribe["parameters"]),
        (&json!(id.as_str()), &json!(["A"]))
    );
    assert!(
        subscribe.get("cursor").is_none(),
        "a first subscribe loads whole: {subscribe}"
    );
    let row = json!({"id": "p1", "accountId": "A", "amount": 10, "draft": false, "updated_at": "2026-01-01T00:00:01.000Z"});
    fake.send(json!({"type": "subscribed", "id": id.as_str(), "stream": STREAM, "definition": "d1", "buckets": ["A"], "cursor": 0}));
    fake.send(json!({"type": "bucket_snapshot", "subscription": id.as_str(), "stream": STREAM, "bucket": "A", "entity_type": "Payment", "cursor": 5, "rows": [row]}));
    fake.send(json!({"type": "checkpoint", "cursor": 5, "subscription": id.as_str()}));
    eventually("the snapshot", SYNC, || async {
        ids(&reader).await == ["p1"]
    })
    .await;

    let mut events = reader.events();
    reader.put(&payment("p1", "A", 11)).await.unwrap();
    let batch = fake.next().await;
    assert_eq!(batch["type"], "process_sync_batch", "{batch}");
    let entry = batch["entries"][0]["id"].as_str().unwrap().to_owned();
    // The bucket is revoked while the edit waits: the row is pinned by it.
    fake.send(json!({"type": "bucket_removed", "subscription": id.as_str(), "stream": STREAM, "bucket": "A", "reason": "revoked"}));
    fake.send(json!({"type": "sync_nack", "id": entry, "reason": "forbidden", "detail": "not yours any more"}));

    let dropped = next_event(&mut events, |event| match event {
        Event::Dropped(dropped) => Some(dropped),
        _ => None,
    })
    .await;
    assert_eq!(
        (dropped.entity_type, dropped.entity_id.as_str()),
        ("Payment", "p1")
    );
    assert_eq!(dropped.data.as_ref().unwrap()["amount"], 11);
    assert_eq!(dropped.changes.len(), 1);
    assert_eq!(dropped.changes[0].id, entry);
    assert_eq!(dropped.detail, "not yours any more");
    assert!(
        reader.outbox().await.unwrap().is_empty(),
        "dropped, not failed"
    );
    assert_eq!(reader.get::<Payment>("p1").await.unwrap(), None);
}

/// A server of the testkit's restricted registry (`Note`, whose stream `notes_by_account`
/// is keyed by the principal's `Grant`s), behind JWT authentication.
struct Restricted {
    address: std::net::SocketAddr,
    keys: sync_axum::jwt::JwtKeys,
    _store_dir: Dir,
}

impl Restricted {
    async fn start() -> Restricted {
        let store_dir = Dir::new();
        let store = sync_core::store::sqlite::SqliteStore::builder(
            store_dir.data(),
            sync_testkit::entities::restricted(),
        )
        .synchronous(Synchronous::Off)
        .open()
        .await
        .unwrap();
        let keys =
            sync_axum::jwt::JwtKeys::from_secret(b"partial sync client test secret, 32 bytes+");
        let server = sync_axum::SyncServer::builder(
            store,
            Editors(sync_axum::jwt::JwtAuthenticator::new(keys.clone())),
        )
        .path("/ws/{tenant_id}")
        .build();
        let listener = common::bind("127.0.0.1:0".parse().unwrap()).await;
        let address = listener.local_addr().unwrap();
        let router = server.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Restricted {
            address,
            keys,
            _store_dir: store_dir,
        }
    }

    async fn client_as(&self, subject: &str, url: &str, path: &Path) -> Client {
        let token = self
            .keys
            .issue(subject, &[TENANT], Duration::from_secs(600))
            .unwrap();
        builder(url, path)
            .entity::<Grant>()
            .entity::<Note>()
            .token(token)
            .build()
            .await
            .unwrap()
    }
}

fn grant(id: &str, user: &str, account: &str) -> Grant {
    Grant {
        id: id.into(),
        user_id: user.into(),
        account_id: account.into(),
        updated_at: None,
    }
}

fn note(id: &str, account: &str, text: &str) -> Note {
    Note {
        id: id.into(),
        account_id: account.into(),
        text: text.into(),
        updated_at: None,
    }
}

async fn note_ids(client: &Client) -> Vec<String> {
    client
        .list::<Note>()
        .await
        .unwrap()
        .into_iter()
        .map(|note| note.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_offline_of_a_row_whose_bucket_was_revoked_is_dropped_and_reported() {
    let dir = Dir::new();
    let server = Restricted::start().await;
    let url = format!("ws://{}/ws", server.address);
    let admin = server.client_as("admin", &url, &dir.db("admin")).await;
    for account in ["A", "B"] {
        admin
            .put(&grant(&format!("admin-{account}"), "admin", account))
            .await
            .unwrap();
        admin
            .put(&grant(&format!("u1-{account}"), "user-1", account))
            .await
            .unwrap();
    }
    sync(&admin, SYNC).await;
    admin.put(&note("n-a", "A", "shared")).await.unwrap();
    admin.put(&note("n-b", "B", "shared")).await.unwrap();
    sync(&admin, SYNC).await;

    let proxy = Proxy::start(server.address).await;
    let user = server
        .client_as("user-1", &proxy.url(), &dir.db("user"))
        .await;
    user.subscribe::<Note>("notes_by_account", ["A", "B"])
        .await
        .unwrap();
    sync(&user, SYNC).await;
    assert_eq!(note_ids(&user).await, ["n-a", "n-b"]);

    // Offline, the user edits n-b; meanwhile B is revoked.
    offline(&user, &proxy).await;
    user.put(&note("n-b", "B", "my late edit")).await.unwrap();
    admin.delete::<Grant>("u1-B").await.unwrap();
    sync(&admin, SYNC).await;

    let mut events = user.events();
    proxy.refuse(false);
    let dropped = next_event(&mut events, |event| match event {
        Event::Dropped(dropped) => Some(dropped),
        _ => None,
    })
    .await;
    assert_eq!(
        (dropped.entity_type, dropped.entity_id.as_str()),
        ("Note", "n-b")
    );
    assert_eq!(dropped.data.as_ref().unwrap()["text"], "my late edit");
    assert_eq!(dropped.changes.len(), 1);
    sync(&user, SYNC).await;
    assert_eq!(
        note_ids(&user).await,
        ["n-a"],
        "B's row left with its bucket"
    );
    assert!(
        user.outbox().await.unwrap().is_empty(),
        "dropped, not failed"
    );
    let listed = user.subscriptions().await.unwrap();
    assert_eq!(listed[0].buckets.as_deref(), Some(&["A".to_owned()][..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_granted_while_offline_arrives_whole_on_resume() {
    let dir = Dir::new();
    let server = Restricted::start().await;
    let url = format!("ws://{}/ws", server.address);
    let admin = server.client_as("admin", &url, &dir.db("admin")).await;
    for account in ["A", "B"] {
        admin
            .put(&grant(&format!("admin-{account}"), "admin", account))
            .await
            .unwrap();
    }
    admin.put(&grant("u1-A", "user-1", "A")).await.unwrap();
    sync(&admin, SYNC).await;
    admin.put(&note("n-a", "A", "shared")).await.unwrap();
    admin
        .put(&note("n-b", "B", "written before the grant"))
        .await
        .unwrap();
    sync(&admin, SYNC).await;

    let proxy = Proxy::start(server.address).await;
    let user = server
        .client_as("user-1", &proxy.url(), &dir.db("user"))
        .await;
    user.subscribe::<Note>("notes_by_account", ["A", "B"])
        .await
        .unwrap();
    sync(&user, SYNC).await;
    assert_eq!(note_ids(&user).await, ["n-a"], "B is not granted");

    offline(&user, &proxy).await;
    admin.put(&grant("u1-B", "user-1", "B")).await.unwrap();
    sync(&admin, SYNC).await;
    proxy.refuse(false);
    sync(&user, SYNC).await;
    assert_eq!(
        note_ids(&user).await,
        ["n-a", "n-b"],
        "n-b is older than the cursor"
    );
    let listed = user.subscriptions().await.unwrap();
    assert_eq!(
        listed[0].buckets.as_deref(),
        Some(&["A".to_owned(), "B".to_owned()][..])
    );
}

/// The first event `pick` takes, within [`SYNC`]; the events before it are skipped.
async fn next_event<T>(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    pick: impl Fn(Event) -> Option<T>,
) -> T {
    loop {
        let event = tokio::time::timeout(SYNC, events.recv())
            .await
            .expect("an event in time")
            .expect("the client is running");
        if let Some(picked) = pick(event) {
            return picked;
        }
    }
}

/// Waits for the client to send the subscribe of `id` again, from no cursor: its catch-up
/// is loaded whole again.
async fn asked_again_whole(fake: &mut FakeServer, id: &SubscriptionId) {
    let again = fake.next().await;
    assert_eq!(
        (&again["type"], &again["id"]),
        (&json!("subscribe"), &json!(id.as_str())),
        "the subscription is asked again: {again}"
    );
    assert!(again.get("cursor").is_none(), "from no cursor: {again}");
}

/// The next checkpoint the client applies, within [`SYNC`].
async fn next_checkpoint(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) -> sync_client::event::Checkpoint {
    next_event(events, |event| match event {
        Event::Checkpoint(checkpoint) => Some(checkpoint),
        _ => None,
    })
    .await
}

/// Whether the events received so far include an applied checkpoint.
fn applied_any_checkpoint(events: &mut tokio::sync::broadcast::Receiver<Event>) -> bool {
    drain(events)
        .iter()
        .any(|event| matches!(event, Event::Checkpoint(_)))
}

/// A client of a scripted server, subscribed to `keys` of [`STREAM`]: the server has the
/// subscribe and has answered nothing yet.
struct Scripted {
    _dir: Dir,
    fake: FakeServer,
    reader: Client,
    events: tokio::sync::broadcast::Receiver<Event>,
    id: SubscriptionId,
}

async fn scripted(keys: &[&str]) -> Scripted {
    let dir = Dir::new();
    let mut fake = FakeServer::start().await;
    let reader = client(&fake.url(), &dir.db("reader")).await;
    let events = reader.events();
    let id = reader
        .subscribe::<Payment>(STREAM, keys.iter().copied())
        .await
        .unwrap();
    assert_eq!(fake.next().await["type"], "subscribe");
    Scripted {
        _dir: dir,
        fake,
        reader,
        events,
        id,
    }
}

/// A payment's JSON, updated at second `second`.
fn payment_json(id: &str, account: &str, amount: i64, second: u32) -> serde_json::Value {
    json!({"id": id, "accountId": account, "amount": amount, "draft": false,
           "updated_at": format!("2026-01-01T00:00:{second:02}.000Z")})
}

/// The `subscribed` of `id`, a reload (cursor 0) of `buckets`.
fn subscribed(id: &SubscriptionId, buckets: &[&str]) -> serde_json::Value {
    json!({"type": "subscribed", "id": id.as_str(), "stream": STREAM, "definition": "d1", "buckets": buckets, "cursor": 0})
}

/// A `bucket_snapshot` of `id`'s `bucket` at `cursor`.
fn snapshot(
    id: &SubscriptionId,
    bucket: &str,
    cursor: u64,
    rows: serde_json::Value,
) -> serde_json::Value {
    json!({"type": "bucket_snapshot", "subscription": id.as_str(), "stream": STREAM, "bucket": bucket,
           "entity_type": "Payment", "cursor": cursor, "rows": rows})
}

/// A checkpoint naming `id`, counting `pages` frames since its `subscribed`.
fn named_checkpoint(id: &SubscriptionId, cursor: u64, pages: u64) -> serde_json::Value {
    json!({"type": "checkpoint", "cursor": cursor, "subscription": id.as_str(), "pages": pages})
}

/// A live page putting `row` into its account's bucket at `seq`.
fn live_put(row: &serde_json::Value, seq: u64) -> serde_json::Value {
    json!({"type": "stream_page", "changes": [{"op": "put", "stream": STREAM, "bucket": row["accountId"],
           "entity_type": "Payment", "entity_id": row["id"], "seq": seq, "data": row}], "has_more": false})
}
