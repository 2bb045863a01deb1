//! The session protocol, driven over channels: every message of PROTOCOL.md, without sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sync_core::TenantId;
use sync_core::change::Change;
use sync_core::engine::{self, Engine};
use sync_core::hub::{Cut, Hub};
use sync_core::session::{self, Inbound, Outbound, Session};
use sync_core::store::Store;
use sync_core::store::sqlite::SqliteStore;
use sync_testkit::entities::Account;
use tokio::sync::watch;

type Gated = sync_testkit::gated::Gated<SqliteStore>;

struct Server {
    _dir: tempfile::TempDir,
    engine: Engine<SqliteStore>,
    shutdown: watch::Sender<bool>,
    config: session::Config,
}

impl Server {
    async fn new(queue_depth: usize, config: session::Config) -> Server {
        let (dir, store) = sync_testkit::store::sqlite().await;
        let engine = Engine::new(store, Hub::new(queue_depth), engine::Config::default());
        Server {
            _dir: dir,
            engine,
            shutdown: watch::channel(false).0,
            config,
        }
    }

    async fn default() -> Server {
        Server::new(256, session::Config::default()).await
    }

    async fn connect(&self, tenant: &str) -> Client {
        open(&self.engine, &self.shutdown, &self.config, tenant).await
    }
}

/// A session of `tenant` over channels, greeted.
async fn open<S: Store>(
    engine: &Engine<S>,
    shutdown: &watch::Sender<bool>,
    config: &session::Config,
    tenant: &str,
) -> Client {
    let (to_session, inbound) = mpsc::channel(256);
    let (outbound, from_session) = mpsc::channel(1024);
    let session = Session::new(
        engine.clone(),
        TenantId::new(tenant).unwrap(),
        "tester",
        config.clone(),
        shutdown.subscribe(),
    );
    let read = Arc::new(AtomicUsize::new(0));
    let counter = read.clone();
    let inbound = inbound.inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let task = tokio::spawn(session.run(inbound, outbound));
    let mut client = Client {
        to_session,
        from_session,
        read,
        task,
    };
    assert_eq!(
        client.recv().await,
        json!({"type": "status", "status": "online"})
    );
    client
}

struct Client {
    to_session: mpsc::Sender<Inbound>,
    from_session: mpsc::Receiver<Outbound>,
    /// How many frames the session has taken from `to_session`.
    read: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    async fn send(&mut self, message: Value) {
        self.to_session
            .send(Inbound::Text(message.to_string()))
            .await
            .unwrap();
    }

    async fn send_raw(&mut self, frame: Inbound) {
        self.to_session.send(frame).await.unwrap();
    }

    async fn next(&mut self) -> Outbound {
        tokio::time::timeout(Duration::from_secs(5), self.from_session.next())
            .await
            .expect("the session answers within 5 s")
            .expect("the session is still open")
    }

    /// The next text message, skipping the server's keep-alive pings.
    async fn recv(&mut self) -> Value {
        loop {
            match self.next().await {
                Outbound::Text(text) => {
                    let json: Value = serde_json::from_str(&text).unwrap();
                    if json["type"] != "ping" {
                        return json;
                    }
                }
                Outbound::Close { code, reason } => panic!("closed {code}: {reason}"),
            }
        }
    }

    async fn closed(&mut self) -> u16 {
        loop {
            match self.next().await {
                Outbound::Close { code, .. } => return code,
                Outbound::Text(_) => {}
            }
        }
    }

    /// Waits until the session has taken `count` frames in all.
    async fn has_read(&self, count: usize) {
        let read = async {
            while self.read.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the session read {} frames, not {count}",
                    self.read.load(Ordering::SeqCst)
                )
            });
    }

    async fn silent(&mut self) {
        match tokio::time::timeout(Duration::from_millis(150), self.from_session.next()).await {
            Err(_) => {}
            Ok(message) => panic!("expected silence, got {message:?}"),
        }
    }
}

fn entry(id: &str, tenant: &str, operation: &str, entity_id: &str, payload: Value) -> Value {
    json!({
        "type": "process_sync_entry",
        "payload": {
            "id": id, "tenantId": tenant, "entityType": "Account", "entityId": entity_id,
            "operationType": operation, "payload": payload, "timestamp": 1, "status": "pending", "attempts": 0,
        }
    })
}

fn account(id: &str, name: &str, at: &str) -> Value {
    json!({"id": id, "name": name, "balance": 1.5, "updated_at": at})
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    client.send(json!({"type": "ping", "timestamp": 123})).await;
    assert_eq!(
        client.recv().await,
        json!({"type": "pong", "timestamp": 123})
    );
    client.send(json!({"type": "ping"})).await;
    assert_eq!(
        client.recv().await,
        json!({"type": "pong", "timestamp": null})
    );
}

#[tokio::test]
async fn an_applied_change_is_acked_to_its_origin_and_broadcast_to_the_others() {
    let server = Server::default().await;
    let mut origin = server.connect("t").await;
    let mut other = server.connect("t").await;
    let mut stranger = server.connect("u").await;

    origin
        .send(entry(
            "e1",
            "t",
            "create",
            "a1",
            account("a1", "Giro", "2026-01-01T00:00:00Z"),
        ))
        .await;
    let ack = origin.recv().await;
    assert_eq!(ack["type"], "sync_ack");
    assert_eq!(ack["id"], "e1");
    assert_eq!(ack["status"], "processed");
    assert_eq!(ack["entityId"], "a1");
    assert_eq!(ack["entityType"], "Account");
    assert_eq!(ack["operationType"], "create");
    assert_eq!(ack["outcome"], "applied");
    assert_eq!(ack["updated_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(ack["cursor"], 1);
    assert_eq!(ack["seq"], 1, "the change's own sequence number");

    let update = other.recv().await;
    assert_eq!(update["event_type"], "data_update");
    assert!(
        update.get("type").is_none(),
        "data messages carry event_type only"
    );
    assert_eq!(update["tenant_id"], "t");
    assert_eq!(update["entity_type"], "Account");
    assert_eq!(update["operation_type"], "create");
    assert_eq!(update["data"]["single_entity"]["name"], "Giro");
    assert_eq!(
        update["data"]["single_entity"]["updated_at"],
        "2026-01-01T00:00:00.000Z"
    );
    assert_eq!(update["cursor"], 1);

    origin.silent().await;
    stranger.silent().await;
}

#[tokio::test]
async fn a_superseded_change_tells_its_origin_the_winner_twice() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    client
        .send(entry(
            "e1",
            "t",
            "update",
            "a1",
            account("a1", "newer", "2026-01-02T00:00:00Z"),
        ))
        .await;
    client.recv().await;
    client
        .send(entry(
            "e2",
            "t",
            "update",
            "a1",
            account("a1", "older", "2026-01-01T00:00:00Z"),
        ))
        .await;
    let ack = client.recv().await;
    assert_eq!(ack["outcome"], "superseded");
    assert_eq!(ack["data"]["name"], "newer");
    assert_eq!(
        (&ack["seq"], &ack["deleted"]),
        (&json!(1), &json!(false)),
        "the winner's"
    );
    assert_eq!(ack["updated_at"], "2026-01-02T00:00:00.000Z");
    let update = client.recv().await;
    assert_eq!(update["event_type"], "data_update");
    assert_eq!(update["data"]["single_entity"]["name"], "newer");

    client
        .send(entry(
            "e2",
            "t",
            "update",
            "a1",
            account("a1", "older", "2026-01-01T00:00:00Z"),
        ))
        .await;
    assert_eq!(client.recv().await["outcome"], "duplicate");
}

/// The first answer to a change can be lost while another client replaces the entity: a
/// retry's `duplicate` then reports the entity's current state, in the ACK and as a
/// `data_update`, and says only the current version and sequence number otherwise.
#[tokio::test]
async fn a_duplicate_reports_the_current_state_when_another_change_replaced_the_retried_one() {
    let server = Server::default().await;
    let mut origin = server.connect("t").await;
    let mut other = server.connect("t").await;
    let created = entry(
        "e1",
        "t",
        "create",
        "a1",
        account("a1", "Giro", "2026-01-01T00:00:00Z"),
    );
    origin.send(created.clone()).await;
    assert_eq!(origin.recv().await["outcome"], "applied");
    other.recv().await;

    // Nothing replaced it: the current version and sequence number, no state.
    origin.send(created.clone()).await;
    let ack = origin.recv().await;
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(ack["updated_at"], "2026-01-01T00:00:00.000Z");
    assert_eq!(ack["seq"], 1);
    assert!(
        ack.get("data").is_none() && ack.get("deleted").is_none(),
        "{ack}"
    );
    origin.silent().await;

    other
        .send(entry(
            "e2",
            "t",
            "update",
            "a1",
            account("a1", "renamed", "2026-01-02T00:00:00Z"),
        ))
        .await;
    assert_eq!(other.recv().await["outcome"], "applied");
    assert_eq!(origin.recv().await["event_type"], "data_update");

    origin.send(created.clone()).await;
    let ack = origin.recv().await;
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(
        ack["updated_at"], "2026-01-02T00:00:00.000Z",
        "the current version"
    );
    assert_eq!(ack["data"]["name"], "renamed");
    assert_eq!((&ack["seq"], &ack["deleted"]), (&json!(2), &json!(false)));
    let update = origin.recv().await;
    assert_eq!(update["event_type"], "data_update");
    assert_eq!(update["data"]["single_entity"]["name"], "renamed");
    assert_eq!(update["cursor"], 2);

    // A tombstone is reported as one.
    other
        .send(entry(
            "e3",
            "t",
            "delete",
            "a1",
            json!({"id": "a1", "updated_at": "2026-01-03T00:00:00Z"}),
        ))
        .await;
    assert_eq!(other.recv().await["outcome"], "applied");
    origin.recv().await;
    origin.send(created).await;
    let ack = origin.recv().await;
    assert_eq!((&ack["seq"], &ack["deleted"]), (&json!(3), &json!(true)));
    assert_eq!(origin.recv().await["operation_type"], "delete");
    origin.silent().await;
    other.silent().await;
}

#[tokio::test]
async fn an_entry_for_another_tenant_is_forbidden_and_writes_nothing() {
    let server = Server::default().await;
    let mut client = server.connect("a").await;
    client
        .send(entry(
            "e1",
            "b",
            "create",
            "a1",
            account("a1", "intruder", "2026-01-01T00:00:00Z"),
        ))
        .await;
    let nack = client.recv().await;
    assert_eq!(nack["type"], "sync_nack");
    assert_eq!(nack["reason"], "forbidden");
    assert_eq!(nack["retryable"], false);
    for tenant in ["a", "b"] {
        let cursor = server
            .engine
            .store()
            .cursor(&TenantId::new(tenant).unwrap())
            .await
            .unwrap();
        assert_eq!(cursor, 0, "nothing written to {tenant}");
    }
    client
        .send(json!({"type": "request_initial_data", "tenant_id": "b"}))
        .await;
    let error = client.recv().await;
    assert_eq!(error["type"], "error");
    assert!(error["message"].as_str().unwrap().contains("forbidden"));
}

#[tokio::test]
async fn invalid_entries_are_nacked_with_every_field_they_have() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    client
        .send(entry(
            "e1",
            "t",
            "update",
            "a1",
            json!({"id": "a1", "name": "x"}),
        ))
        .await;
    let nack = client.recv().await;
    assert_eq!(nack["type"], "sync_nack");
    assert_eq!(nack["status"], "failed");
    assert_eq!(
        (
            &nack["id"],
            &nack["entityId"],
            &nack["entityType"],
            &nack["operationType"]
        ),
        (
            &json!("e1"),
            &json!("a1"),
            &json!("Account"),
            &json!("update")
        )
    );
    assert_eq!(nack["reason"], "validation_error");
    assert!(
        nack["detail"].as_str().unwrap().contains("balance"),
        "{nack}"
    );
    assert_eq!(nack["retryable"], false);

    client
        .send(entry(
            "e2",
            "t",
            "update",
            "a1",
            json!({"id": "a1", "name": 7, "balance": 1}),
        ))
        .await;
    assert_eq!(client.recv().await["reason"], "validation_error");
    client
        .send(entry(
            "e3",
            "t",
            "update",
            "other",
            account("a1", "x", "2026-01-01T00:00:00Z"),
        ))
        .await;
    assert_eq!(client.recv().await["reason"], "payload_mismatch");
    let mut unknown = entry(
        "e4",
        "t",
        "update",
        "a1",
        account("a1", "x", "2026-01-01T00:00:00Z"),
    );
    unknown["payload"]["entityType"] = json!("Budget");
    client.send(unknown).await;
    assert_eq!(client.recv().await["reason"], "unknown_entity");
    client.send(json!({"type": "process_sync_entry", "payload": {"id": "e5", "operationType": "update"}})).await;
    let nack = client.recv().await;
    assert_eq!(
        (&nack["id"], &nack["reason"]),
        (&json!("e5"), &json!("validation_error"))
    );
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_session_stays_usable() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    client.send_raw(Inbound::Text("{not json".into())).await;
    let error = client.recv().await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );

    client.send(json!({"type": "launch_rockets"})).await;
    assert_eq!(
        client.recv().await,
        json!({"type": "error", "message": "unknown message type: launch_rockets", "original_type": "launch_rockets"})
    );
    client.send(json!({"no": "type"})).await;
    assert_eq!(client.recv().await["type"], "error");
    client.send_raw(Inbound::Binary).await;
    assert_eq!(client.recv().await["type"], "error");

    client.send(json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(client.recv().await["type"], "pong");
}

#[tokio::test]
async fn a_batch_is_answered_in_order_and_one_over_the_limit_is_refused_whole() {
    let config = session::Config {
        wire: sync_core::protocol::Limits {
            max_batch: 3,
            ..Default::default()
        },
        ..session::Config::default()
    };
    let server = Server::new(256, config).await;
    let mut client = server.connect("t").await;
    let entries: Vec<Value> = (0..3)
        .map(|n| {
            entry(
                &format!("e{n}"),
                "t",
                "create",
                &format!("a{n}"),
                account(&format!("a{n}"), "x", "2026-01-01T00:00:00Z"),
            )["payload"]
                .clone()
        })
        .collect();
    client
        .send(json!({"type": "process_sync_batch", "entries": entries}))
        .await;
    for n in 0..3 {
        let ack = client.recv().await;
        assert_eq!(
            (&ack["id"], &ack["outcome"], &ack["cursor"]),
            (&json!(format!("e{n}")), &json!("applied"), &json!(3))
        );
    }
    let mut too_many = entries.clone();
    too_many.push(entries[0].clone());
    client
        .send(json!({"type": "process_sync_batch", "entries": too_many}))
        .await;
    // One answer for the whole batch, not one NACK per entry, and nothing applied.
    let refusal = client.recv().await;
    assert_eq!(refusal["type"], "error");
    assert_eq!(refusal["original_type"], "process_sync_batch");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .starts_with("too_large")
    );
    client.send(json!({"type": "ping", "timestamp": 9})).await;
    assert_eq!(client.recv().await, json!({"type": "pong", "timestamp": 9}));
}

#[tokio::test]
async fn a_huge_batch_of_tiny_entries_gets_one_answer() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    let tiny: Vec<Value> = (0..50_000).map(|_| json!({})).collect();
    client
        .send(json!({"type": "process_sync_batch", "entries": tiny}))
        .await;
    assert_eq!(client.recv().await["type"], "error");
    client.send(json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(client.recv().await, json!({"type": "pong", "timestamp": 1}));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_closed_and_its_queue_released() {
    let config = session::Config {
        send_timeout: Duration::from_secs(10),
        ..session::Config::default()
    };
    let server = Server::new(1024, config.clone()).await;
    let tenant = TenantId::new("t").unwrap();
    // A transport whose buffer holds four frames and a client that stops reading.
    let (_to_session, inbound) = mpsc::channel::<Inbound>(1);
    let (outbound, mut from_session) = mpsc::channel(4);
    let session = Session::new(
        server.engine.clone(),
        tenant.clone(),
        "never-reads",
        config,
        server.shutdown.subscribe(),
    );
    let task = tokio::spawn(session.run(inbound, outbound));
    let mut honest = server.connect("t").await;
    let big: Arc<str> = Arc::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000)));
    for _ in 0..20 {
        server.engine.hub().publish(&tenant, None, big.clone());
        tokio::task::yield_now().await;
    }
    // Its transport holds four frames and its hub queue the rest (2 MB, under the byte
    // bound): the send timeout ends it, and the honest session keeps working.
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the never-reading session ends within the send timeout")
        .unwrap();
    assert_eq!(
        server.engine.hub().sessions(&tenant),
        1,
        "only the honest one"
    );
    let mut frames = 0;
    while let Some(frame) = from_session.next().await {
        assert!(
            matches!(frame, Outbound::Text(_)),
            "no room for a close frame"
        );
        frames += 1;
    }
    assert!(frames <= 5, "what the transport held: {frames} frames");
    for _ in 0..20 {
        assert!(honest.recv().await["pad"].is_string());
    }
    honest.send(json!({"type": "ping", "timestamp": 2})).await;
    assert_eq!(honest.recv().await, json!({"type": "pong", "timestamp": 2}));
}

#[tokio::test]
async fn initial_data_holds_every_collection_and_changes_page() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    for n in 0..5 {
        client
            .send(entry(
                &format!("e{n}"),
                "t",
                "create",
                &format!("a{n}"),
                account(&format!("a{n}"), "x", "2026-01-01T00:00:00Z"),
            ))
            .await;
        client.recv().await;
    }
    client
        .send(json!({"type": "request_initial_data", "tenant_id": "t"}))
        .await;
    let load = client.recv().await;
    assert_eq!(load["event_type"], "initial_data_load");
    assert_eq!(load["payload"]["accounts"].as_array().unwrap().len(), 5);
    assert_eq!(load["payload"]["account_groups"], json!([]));
    assert_eq!(load["cursor"], 5);

    client
        .send(json!({"type": "request_changes", "since": 0, "limit": 2}))
        .await;
    let page = client.recv().await;
    assert_eq!(
        (
            &page["type"],
            &page["cursor"],
            &page["has_more"],
            &page["reset"]
        ),
        (&json!("changes"), &json!(2), &json!(true), &json!(false))
    );
    assert_eq!(page["changes"][0]["entity_type"], "Account");
    assert_eq!(page["changes"][0]["operation_type"], "update");
    client
        .send(json!({"type": "request_changes", "since": 4}))
        .await;
    let page = client.recv().await;
    assert_eq!(
        (&page["cursor"], &page["has_more"]),
        (&json!(5), &json!(false))
    );

    client
        .send(json!({"type": "hello", "client_id": "c-1", "protocol": 1, "cursor": null}))
        .await;
    let welcome = client.recv().await;
    assert_eq!(
        (&welcome["type"], &welcome["cursor"], &welcome["protocol"]),
        (&json!("welcome"), &json!(5), &json!(1))
    );
    assert!(welcome["server_time"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(welcome["limits"]["max_batch"], 500);
}

#[tokio::test]
async fn data_status_checksums_are_stable_across_replicas() {
    let server = Server::default().await;
    let mut first = server.connect("one").await;
    let mut second = server.connect("two").await;
    for (client, tenant) in [(&mut first, "one"), (&mut second, "two")] {
        client
            .send(entry(
                "e1",
                tenant,
                "create",
                "a1",
                account("a1", "same", "2026-01-01T00:00:00Z"),
            ))
            .await;
        client.recv().await;
        client.send(json!({"type": "data_status_request", "tenant_id": tenant, "entity_types": ["Account"]})).await;
    }
    let (one, two) = (first.recv().await, second.recv().await);
    assert_eq!(one["type"], "data_status_response");
    assert_eq!(
        one["entity_checksums"]["Account"],
        two["entity_checksums"]["Account"]
    );
    assert!(
        one["entity_checksums"].get("AccountGroup").is_none(),
        "only the requested types"
    );
    let row = &one["entity_checksums"]["Account"][0];
    assert_eq!(row["entity_id"], "a1");
    assert_eq!(row["last_modified"], 1_767_225_600);
    assert!(one["server_time"].as_i64().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn status_and_disconnect_requests_are_answered() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    client
        .send(json!({"type": "connection_status_request"}))
        .await;
    let status = client.recv().await;
    assert_eq!(
        (
            &status["type"],
            &status["backend_status"],
            &status["connection_healthy"]
        ),
        (
            &json!("connection_status_response"),
            &json!("online"),
            &json!(true)
        )
    );
    assert_eq!(status["stats"]["tenant_sessions"], 1);
    client
        .send(json!({"type": "tenant_disconnect", "tenant_id": "t", "reason": "user_logout"}))
        .await;
    let ack = client.recv().await;
    assert_eq!(
        (&ack["type"], &ack["status"], &ack["tenant_id"]),
        (
            &json!("tenant_disconnect_ack"),
            &json!("success"),
            &json!("t")
        )
    );
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await["type"], "pong", "the socket stays open");
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    client.send_raw(Inbound::TooLarge).await;
    assert_eq!(client.closed().await, session::close::TOO_BIG);

    // A transport that does not enforce the limit gets the same answer from the session.
    let config = session::Config {
        wire: sync_core::protocol::Limits {
            max_message_bytes: 64,
            ..Default::default()
        },
        ..session::Config::default()
    };
    let server = Server::new(16, config).await;
    let mut client = server.connect("t").await;
    client
        .send(json!({"type": "ping", "padding": "x".repeat(100)}))
        .await;
    assert_eq!(client.closed().await, session::close::TOO_BIG);
}

#[tokio::test]
async fn a_session_that_falls_behind_is_closed_with_1013() {
    let server = Server::new(2, session::Config::default()).await;
    let mut slow = server.connect("t").await;
    let tenant = TenantId::new("t").unwrap();
    // The session forwards what it can; flood its hub queue faster than it is read.
    for n in 0..2000 {
        server.engine.hub().publish(
            &tenant,
            None,
            std::sync::Arc::from(format!("{{\"n\":{n}}}")),
        );
    }
    assert_eq!(slow.closed().await, session::close::TRY_AGAIN);
}

#[tokio::test]
async fn shutdown_says_so_then_closes_with_1001() {
    let server = Server::default().await;
    let mut client = server.connect("t").await;
    server.shutdown.send(true).unwrap();
    assert_eq!(
        client.recv().await,
        json!({"type": "status", "status": "shutdown"})
    );
    assert_eq!(client.closed().await, session::close::GOING_AWAY);

    let server = Server::default().await;
    let mut deleted = server.connect("gone").await;
    server
        .engine
        .hub()
        .cut_tenant(&TenantId::new("gone").unwrap(), Cut::TenantDeleted);
    assert_eq!(deleted.closed().await, session::close::POLICY);
}

#[tokio::test]
async fn the_server_pings_and_closes_silent_clients() {
    let config = session::Config {
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(120),
        ..session::Config::default()
    };
    let server = Server::new(16, config).await;
    let mut client = server.connect("t").await;
    let Outbound::Text(ping) = client.next().await else {
        panic!("expected a ping")
    };
    assert!(ping.contains("\"type\":\"ping\""));
    assert_eq!(client.closed().await, session::close::GOING_AWAY);
}

/// A store whose applies wait for `release_applies`, in a fresh directory.
async fn gated() -> (Gated, tempfile::TempDir) {
    let (dir, store) = sync_testkit::store::sqlite_of(sync_testkit::entities::accounts()).await;
    (Gated::applies_held(store), dir)
}

fn created(n: usize) -> Value {
    let id = format!("a{n}");
    entry(
        &format!("e{n}"),
        "t",
        "create",
        &id,
        account(&id, "x", "2026-01-01T00:00:00Z"),
    )
}

#[tokio::test]
async fn pipelined_messages_are_committed_together_and_answered_in_arrival_order() {
    let (store, _dir) = gated().await;
    let engine = Engine::new(store.clone(), Hub::new(256), engine::Config::default());
    let shutdown = watch::channel(false).0;
    let mut client = open(&engine, &shutdown, &session::Config::default(), "t").await;

    // The first entry holds the writer, so everything after it waits in its queue.
    client.send(created(0)).await;
    store.applies_started(1).await;
    for n in 1..=3 {
        client.send(created(n)).await;
    }
    client.send(json!({"type": "ping", "timestamp": 7})).await;
    client
        .send(entry("bad", "t", "create", "a9", json!({"id": "a9"})))
        .await;
    // A tie on `updated_at`: the later arrival wins, so the writer got them in order.
    for (id, name) in [("tie-1", "first"), ("tie-2", "second")] {
        client
            .send(entry(
                id,
                "t",
                "update",
                "tie",
                account("tie", name, "2026-01-01T00:00:00Z"),
            ))
            .await;
    }
    client
        .send(json!({"type": "request_changes", "since": 0}))
        .await;
    client.has_read(9).await;
    client.silent().await;
    store.release_applies();

    for n in 0..=3 {
        let ack = client.recv().await;
        assert_eq!(
            (&ack["type"], &ack["id"]),
            (&json!("sync_ack"), &json!(format!("e{n}")))
        );
    }
    assert_eq!(client.recv().await, json!({"type": "pong", "timestamp": 7}));
    let nack = client.recv().await;
    assert_eq!(
        (&nack["id"], &nack["reason"]),
        (&json!("bad"), &json!("validation_error"))
    );
    for id in ["tie-1", "tie-2"] {
        assert_eq!(client.recv().await["id"], id);
    }
    // The read waits for the entries before it, so it sees them all.
    let page = client.recv().await;
    assert_eq!(
        (&page["type"], &page["cursor"]),
        (&json!("changes"), &json!(6))
    );
    let tie = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["data"]["id"] == "tie")
        .unwrap();
    assert_eq!(tie["data"]["name"], "second", "{tie}");
    client.silent().await;
    assert_eq!(
        store.batches(),
        [1, 6],
        "the entries that waited (the invalid one too: the store validates) are one group commit"
    );
}

#[tokio::test]
async fn a_session_stops_reading_at_its_in_flight_bound() {
    let (store, _dir) = gated().await;
    let engine = Engine::new(store.clone(), Hub::new(256), engine::Config::default());
    let shutdown = watch::channel(false).0;
    let config = session::Config {
        max_in_flight: 4,
        ..session::Config::default()
    };
    let mut client = open(&engine, &shutdown, &config, "t").await;
    for n in 0..20 {
        client.send(created(n)).await;
    }
    store.applies_started(1).await;
    client.has_read(4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        client.read.load(Ordering::SeqCst),
        4,
        "four changes in flight, the rest wait in the transport"
    );
    store.release_applies();
    for n in 0..20 {
        assert_eq!(client.recv().await["id"], format!("e{n}"));
    }
    let batches = store.batches();
    assert_eq!(batches.iter().sum::<usize>(), 20);
    assert!(batches.iter().all(|size| *size <= 4), "{batches:?}");

    // A batch larger than the bound is taken alone, after what is in flight.
    let entries: Vec<Value> = (20..26).map(|n| created(n)["payload"].clone()).collect();
    client.send(created(26)).await;
    client
        .send(json!({"type": "process_sync_batch", "entries": entries}))
        .await;
    for n in 26..=26 {
        assert_eq!(client.recv().await["id"], format!("e{n}"));
    }
    for n in 20..26 {
        assert_eq!(client.recv().await["id"], format!("e{n}"));
    }
    assert_eq!(store.batches()[batches.len()..], [1, 6]);
}

#[tokio::test]
async fn a_full_writer_queue_nacks_overloaded_in_order() {
    let (store, _dir) = gated().await;
    let config = engine::Config {
        writer_queue: 2,
        ..engine::Config::default()
    };
    let engine = Engine::new(store.clone(), Hub::new(256), config);
    let shutdown = watch::channel(false).0;
    let mut client = open(&engine, &shutdown, &session::Config::default(), "t").await;
    client.send(created(0)).await;
    store.applies_started(1).await;
    for n in 1..=6 {
        client.send(created(n)).await;
    }
    client.has_read(7).await;
    store.release_applies();
    // The writer holds e0; its queue takes e1 and e2; the rest are refused at once, but
    // answered in their turn.
    for n in 0..=2 {
        let ack = client.recv().await;
        assert_eq!(
            (&ack["type"], &ack["id"]),
            (&json!("sync_ack"), &json!(format!("e{n}")))
        );
    }
    for n in 3..=6 {
        let nack = client.recv().await;
        assert_eq!(
            (
                &nack["type"],
                &nack["id"],
                &nack["reason"],
                &nack["retryable"]
            ),
            (
                &json!("sync_nack"),
                &json!(format!("e{n}")),
                &json!("overloaded"),
                &json!(true)
            )
        );
    }
    assert_eq!(store.batches(), [1, 2]);
}

#[tokio::test]
async fn the_writer_queue_bound_counts_changes_not_batches() {
    let (store, _dir) = gated().await;
    let config = engine::Config {
        writer_queue: 10,
        ..engine::Config::default()
    };
    let engine = Engine::new(store.clone(), Hub::new(256), config);
    let tenant = TenantId::new("t").unwrap();
    let changes = |from: usize, count: usize| -> Vec<Change> {
        (from..from + count)
            .map(|n| Change::upsert(&Account::new(&format!("a{n}"), "x", 0.0)).unwrap())
            .collect()
    };
    let submit = |batch: Vec<Change>| {
        let (engine, tenant) = (engine.clone(), tenant.clone());
        tokio::spawn(async move { engine.submit(&tenant, None, batch).await })
    };
    // The writer holds the first batch; 8 + 2 changes then fill the queue's 10.
    let held = submit(changes(0, 1));
    store.applies_started(1).await;
    let eight = submit(changes(1, 8));
    tokio::task::yield_now().await;
    let two = submit(changes(9, 2));
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // One more change does not fit, whatever the number of batches waiting (two).
    assert!(matches!(
        engine.submit(&tenant, None, changes(11, 1)).await,
        Err(engine::SubmitError::Overloaded)
    ));
    store.release_applies();
    for (handle, count) in [(held, 1), (eight, 8), (two, 2)] {
        assert_eq!(handle.await.unwrap().unwrap().outcomes.len(), count);
    }
    // The room is given back once the writer takes the batches: a batch larger than the
    // whole bound is admitted into an empty queue.
    let big = engine.submit(&tenant, None, changes(20, 25)).await.unwrap();
    assert_eq!(big.outcomes.len(), 25);
}

#[tokio::test]
async fn deliveries_pings_and_shutdown_go_out_while_entries_wait() {
    let (store, _dir) = gated().await;
    let engine = Engine::new(store.clone(), Hub::new(256), engine::Config::default());
    let shutdown = watch::channel(false).0;
    let config = session::Config {
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(60),
        ..session::Config::default()
    };
    let mut client = open(&engine, &shutdown, &config, "t").await;
    client.send(created(0)).await;
    store.applies_started(1).await;
    engine
        .hub()
        .publish(&TenantId::new("t").unwrap(), None, Arc::from("{\"n\":1}"));
    let Outbound::Text(delivered) = client.next().await else {
        panic!("expected the delivery")
    };
    assert_eq!(&*delivered, "{\"n\":1}");
    // Pings go on, and a client waiting for its answers is not closed as idle.
    for _ in 0..3 {
        let Outbound::Text(ping) = client.next().await else {
            panic!("expected a ping")
        };
        assert!(ping.contains("\"type\":\"ping\""), "{ping}");
    }
    shutdown.send_replace(true);
    assert_eq!(
        client.recv().await,
        json!({"type": "status", "status": "shutdown"})
    );
    assert_eq!(client.closed().await, session::close::GOING_AWAY);
}

#[tokio::test]
async fn a_client_that_leaves_with_entries_in_flight_leaks_nothing() {
    let (store, _dir) = gated().await;
    let engine = Engine::new(store.clone(), Hub::new(256), engine::Config::default());
    let shutdown = watch::channel(false).0;
    let tenant = TenantId::new("t").unwrap();
    let client = open(&engine, &shutdown, &session::Config::default(), "t").await;
    let mut client = client;
    for n in 0..4 {
        client.send(created(n)).await;
    }
    store.applies_started(1).await;
    client.has_read(4).await;
    let Client {
        to_session, task, ..
    } = client;
    drop(to_session);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the session ends while its entries wait")
        .unwrap();
    assert_eq!(engine.hub().sessions(&tenant), 0);

    // The writer still commits what it took; a retry is a duplicate.
    store.release_applies();
    let committed = async {
        while engine.store().cursor(&tenant).await.unwrap() < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), committed)
        .await
        .expect("the writer commits the entries of a client that left");
    let mut again = open(&engine, &shutdown, &session::Config::default(), "t").await;
    again.send(created(3)).await;
    // The writer may publish the earlier commits after `again` subscribed.
    let ack = loop {
        let message = again.recv().await;
        if message["type"] == "sync_ack" {
            break message;
        }
        assert_eq!(message["event_type"], "data_update", "{message}");
    };
    assert_eq!(ack["outcome"], "duplicate");
}

#[tokio::test]
async fn a_tenant_database_that_cannot_be_opened_nacks_overloaded_and_other_tenants_go_on() {
    let server = Server::default().await;
    // A directory where the tenant's database file would be: SQLite cannot open it, as
    // when the process is out of file descriptors.
    let store = server.engine.store();
    std::fs::create_dir(store.database_path(&TenantId::new("blocked").unwrap())).unwrap();
    let mut blocked = server.connect("blocked").await;
    let account = account("a0", "x", "2026-01-01T00:00:00Z");
    blocked
        .send(entry("e0", "blocked", "create", "a0", account))
        .await;
    let nack = blocked.recv().await;
    assert_eq!(
        (&nack["type"], &nack["reason"], &nack["retryable"]),
        (&json!("sync_nack"), &json!("overloaded"), &json!(true)),
        "{nack}"
    );
    let mut open = server.connect("t").await;
    open.send(created(1)).await;
    assert_eq!(open.recv().await["type"], "sync_ack");
}
