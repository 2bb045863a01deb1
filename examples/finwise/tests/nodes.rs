//! Several FinWise nodes on one PostgreSQL database behave as one server: for each bus
//! (NATS and LISTEN/NOTIFY), two nodes in a fresh schema share users, tenants, the JWT
//! secret and every change, agree on every last-write-wins winner, close a deleted
//! tenant's sessions everywhere, and a node killed with SIGKILL mid-stream loses nothing
//! it acknowledged.
//!
//! Needs PostgreSQL (`SYNC_TEST_DATABASE_URL`, default the local server) and, for the NATS
//! cases, NATS (`SYNC_TEST_NATS_URL`, default `nats://127.0.0.1:4222`); `.ci/run` starts
//! both.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::process::spawn;
use common::ws::{Socket, account, account_update, close_code, connect, entry, recv, send};
use common::{PgSchema, Server, bare, browser, create_tenant, login, read, start_with, user};
use futures::StreamExt;
use serde_json::{Value, json};
use sync_core::TenantId;
use sync_core::store::Store as _;
use sync_testkit::proxy::Proxy;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How the nodes of a test tell each other of commits.
#[derive(Debug, Clone, Copy)]
enum Bus {
    Nats,
    Notify,
}

impl Bus {
    /// The `bus_url` that selects it.
    fn url(self) -> Option<String> {
        match self {
            Bus::Nats => Some(
                std::env::var("SYNC_TEST_NATS_URL")
                    .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned()),
            ),
            Bus::Notify => None,
        }
    }
}

/// An in-process node on `schema`, with no JWT secret of its own: every node reads the
/// one stored in the database.
async fn node(schema: &PgSchema, bus: Bus) -> Server {
    let (url, name, bus_url) = (schema.url.clone(), schema.name.clone(), bus.url());
    start_with(move |config| {
        config.database_url = Some(url);
        config.database_schema = Some(name);
        config.database_max_connections = 3;
        config.bus_url = bus_url;
        config.jwt_secret = None;
    })
    .await
}

/// Two nodes started at once.
async fn two_nodes(schema: &PgSchema, bus: Bus) -> (Server, Server) {
    tokio::join!(node(schema, bus), node(schema, bus))
}

/// Sends `entries` one `process_sync_entry` after the other, without waiting for answers.
async fn write_all(socket: &mut Socket, entries: Vec<Value>) {
    for entry in entries {
        send(
            socket,
            json!({"type": "process_sync_entry", "payload": entry}),
        )
        .await;
    }
}

/// The next message on `socket` that is not a ping, within `patience`; `None` if none came.
async fn next_message(socket: &mut Socket, patience: Duration) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(patience, socket.next()).await.ok()?;
        match frame.expect("open").expect("readable") {
            Message::Text(text) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] != "ping" {
                    return Some(message);
                }
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads `socket` until it has had `count` answers (`sync_ack`); every message read.
async fn answers(socket: &mut Socket, count: usize) -> Vec<Value> {
    let mut messages = Vec::new();
    while messages
        .iter()
        .filter(|m: &&Value| m["type"] == "sync_ack")
        .count()
        < count
    {
        let message = next_message(socket, Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{count} answers within 30 s; got {messages:#?}"));
        messages.push(message);
    }
    messages
}

/// Reads `socket` until its session's view of the accounts (see [`session_view`]) is
/// `stored`, within 30 s, and checks that it stays so (nothing stale arrives after).
async fn converge(
    socket: &mut Socket,
    seen: &mut Vec<Value>,
    sent: &BTreeMap<String, Value>,
    stored: &BTreeMap<String, String>,
    node: u8,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while session_view(sent, seen) != *stored {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_message(socket, left).await {
            Some(message) => seen.push(message),
            None => panic!(
                "node {node}'s session never saw the stored winners {stored:#?}; it saw {seen:#?}"
            ),
        }
    }
    while let Some(message) = next_message(socket, Duration::from_millis(500)).await {
        seen.push(message);
    }
    assert_eq!(
        session_view(sent, seen),
        *stored,
        "node {node}'s session, at rest"
    );
}

/// What a session knows of each account after `messages`: per id, the state carried by
/// the message with the highest cursor (its own applied write, the winner of a superseded
/// one, or another session's update), as a client that orders by cursor keeps it.
fn session_view(sent: &BTreeMap<String, Value>, messages: &[Value]) -> BTreeMap<String, String> {
    let mut view: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for message in messages {
        let (id, cursor, name) = if message["type"] == "sync_ack" {
            let entry = &sent[message["id"].as_str().unwrap()];
            let name = match message["outcome"].as_str() {
                Some("applied") => entry["payload"]["name"].clone(),
                _ => message["data"]["name"].clone(),
            };
            (entry["entityId"].clone(), message["cursor"].as_u64(), name)
        } else if message["event_type"] == "data_update" {
            let entity = &message["data"]["single_entity"];
            (
                entity["id"].clone(),
                message["cursor"].as_u64(),
                entity["name"].clone(),
            )
        } else {
            panic!("unexpected message {message}");
        };
        let cursor = cursor.unwrap_or_else(|| panic!("no cursor in {message}"));
        let (id, name) = (
            id.as_str().unwrap().to_owned(),
            name.as_str().unwrap().to_owned(),
        );
        if view.get(&id).is_none_or(|(seen, _)| cursor >= *seen) {
            view.insert(id, (cursor, name));
        }
    }
    view.into_iter().map(|(id, (_, name))| (id, name)).collect()
}

/// The accounts `socket`'s initial load holds, by id: name.
async fn initial_accounts(socket: &mut Socket, tenant: &str) -> BTreeMap<String, String> {
    send(
        socket,
        json!({"type": "request_initial_data", "tenant_id": tenant}),
    )
    .await;
    let load = recv(socket).await;
    assert_eq!(load["event_type"], "initial_data_load", "{load}");
    load["payload"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| {
            (
                account["id"].as_str().unwrap().to_owned(),
                account["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn behave_as_one_server(bus: Bus) {
    let schema = PgSchema::create().await;
    let (one, two) = two_nodes(&schema, bus).await;

    // A user registered on node 1 logs in on node 2, and node 1's token works on node 2:
    // both nodes share the generated secret.
    let anna = user(&one, "anna").await;
    login(&two, &browser(), "anna").await;
    let (status, _) = read(
        bare()
            .get(two.url("/tenants"))
            .bearer_auth(&anna.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "node 1's token on node 2");

    // A tenant created on node 1 is listed on node 2.
    let tenant = create_tenant(&one, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap().to_owned();
    let (status, listed) = read(
        bare()
            .get(two.url(&format!("/tenants?user_id={}", anna.uuid)))
            .bearer_auth(&anna.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut expected = tenant.clone();
    expected["role"] = json!("owner");
    assert_eq!(
        (status, listed),
        (reqwest::StatusCode::OK, json!([expected]))
    );

    // A change written through node 1 reaches a session on node 2.
    let mut on_one = connect(&one, &anna, &id).await;
    let mut on_two = connect(&two, &anna, &id).await;
    send(
        &mut on_one,
        account_update("e0", &id, "a0", "from node 1", "2026-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(recv(&mut on_one).await["outcome"], "applied");
    let update = recv(&mut on_two).await;
    assert_eq!(
        (
            &update["event_type"],
            &update["data"]["single_entity"]["name"]
        ),
        (&json!("data_update"), &json!("from node 1")),
        "{update}"
    );

    // Conflicting writes of the same accounts through both nodes at once: per account one
    // write is newer, or both carry the same version (then the later commit wins).
    let mut sent_one = BTreeMap::new();
    let mut sent_two = BTreeMap::new();
    let accounts: Vec<String> = (1..=12).map(|n| format!("a{n}")).collect();
    for (n, account_id) in accounts.iter().enumerate() {
        let (at_one, at_two) = match n % 3 {
            0 => ("2026-02-01T00:00:00.001Z", "2026-02-01T00:00:00.002Z"),
            1 => ("2026-02-01T00:00:00.002Z", "2026-02-01T00:00:00.001Z"),
            _ => ("2026-02-01T00:00:00.002Z", "2026-02-01T00:00:00.002Z"),
        };
        let one_entry = entry(
            &format!("one-{n}"),
            &id,
            "Account",
            "update",
            account_id,
            account(account_id, &format!("node 1 wrote {account_id}"), at_one),
        );
        let two_entry = entry(
            &format!("two-{n}"),
            &id,
            "Account",
            "update",
            account_id,
            account(account_id, &format!("node 2 wrote {account_id}"), at_two),
        );
        sent_one.insert(format!("one-{n}"), one_entry);
        sent_two.insert(format!("two-{n}"), two_entry);
    }
    tokio::join!(
        write_all(&mut on_one, sent_one.values().cloned().collect()),
        write_all(&mut on_two, sent_two.values().cloned().collect()),
    );
    let (mut seen_one, mut seen_two) = tokio::join!(
        answers(&mut on_one, sent_one.len()),
        answers(&mut on_two, sent_two.len()),
    );
    let tenant_id = TenantId::new(id.clone()).unwrap();
    let mut stored = BTreeMap::new();
    for account_id in &accounts {
        let mut names = Vec::new();
        for server in [&one, &two] {
            let state = server
                .state
                .store
                .get_state(&tenant_id, "Account", account_id)
                .await
                .unwrap()
                .unwrap();
            names.push(state.data["name"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            names[0], names[1],
            "both nodes' stores agree on {account_id}"
        );
        stored.insert(account_id.clone(), names[0].clone());
    }
    for (n, account_id) in accounts.iter().enumerate() {
        if n % 3 != 2 {
            let newer = if n % 3 == 0 { 2 } else { 1 };
            assert_eq!(
                stored[account_id],
                format!("node {newer} wrote {account_id}")
            );
        }
    }
    let mut everything = sent_one.clone();
    everything.extend(sent_two.clone());
    for (socket, seen, node) in [
        (&mut on_one, &mut seen_one, 1),
        (&mut on_two, &mut seen_two, 2),
    ] {
        converge(socket, seen, &everything, &stored, node).await;
    }
    let mut expected = stored.clone();
    expected.insert("a0".to_owned(), "from node 1".to_owned());
    assert_eq!(initial_accounts(&mut on_one, &id).await, expected);
    assert_eq!(initial_accounts(&mut on_two, &id).await, expected);

    // Deleting the tenant through node 1 closes its sessions on node 2 too.
    let (status, _) = read(
        anna.client
            .delete(one.url(&format!("/tenants/{id}/complete?user_id={}", anna.uuid)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(close_code(&mut on_two).await, CloseCode::Policy);
    assert_eq!(close_code(&mut on_one).await, CloseCode::Policy);
    assert!(
        two.state
            .store
            .get_state(&tenant_id, "Account", "a1")
            .await
            .unwrap()
            .is_none(),
        "the tenant's data is gone"
    );
    drop((one, two));
    drop(schema);
}

#[tokio::test]
async fn two_nodes_behave_as_one_server_over_nats() {
    behave_as_one_server(Bus::Nats).await;
}

#[tokio::test]
async fn two_nodes_behave_as_one_server_over_notify() {
    behave_as_one_server(Bus::Notify).await;
}

async fn acked_changes_survive_a_killed_node(bus: Bus) {
    let schema = PgSchema::create().await;
    let survivor = node(&schema, bus).await;
    let mut args = vec![
        "--database-url".to_owned(),
        schema.url.clone(),
        "--database-schema".to_owned(),
        schema.name.clone(),
        "--database-connections".to_owned(),
        "3".to_owned(),
    ];
    if let Some(url) = bus.url() {
        args.extend(["--bus-url".to_owned(), url]);
    }
    let mut doomed = spawn(&args).await;

    // Registered through the survivor (cheap bcrypt cost), used on the process: the two
    // share users and the secret.
    let bert = user(&survivor, "bert").await;
    let tenant = create_tenant(&survivor, &bert, "Konto").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let socket = connect(&doomed, &bert, &tenant).await;

    // Stream changes without waiting for answers; kill the node after 40 ACKs.
    let total = 3_000;
    let (mut sink, mut stream) = socket.split();
    let writing = tenant.clone();
    let writer = tokio::spawn(async move {
        use futures::SinkExt as _;
        for n in 0..total {
            let id = format!("k{n}");
            let change = account_update(
                &id,
                &writing,
                &id,
                &format!("kept {n}"),
                "2026-03-01T00:00:00Z",
            );
            if sink.send(Message::text(change.to_string())).await.is_err() {
                break;
            }
        }
    });
    let mut acked: Vec<(String, String)> = Vec::new();
    let mut killed = false;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the connection ends after the kill");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                match message["type"].as_str() {
                    Some("sync_ack") => {
                        assert_eq!(message["outcome"], "applied", "{message}");
                        let id = message["entityId"].as_str().unwrap().to_owned();
                        let name = format!("kept {}", &id[1..]);
                        acked.push((id, name));
                    }
                    Some("ping") | Some("status") => {}
                    _ => panic!("unexpected {message}"),
                }
                if acked.len() == 40 && !killed {
                    doomed.child.start_kill().unwrap();
                    killed = true;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    writer.abort();
    let status = doomed.child.wait().await.unwrap();
    assert!(killed && !status.success(), "killed mid-stream: {status}");
    eprintln!(
        "{bus:?}: {} of {total} changes ACKed before the connection to the killed node ended",
        acked.len()
    );
    assert!(
        acked.len() < total,
        "the kill came before the last change ({} ACKs)",
        acked.len()
    );

    // Every ACKed change is readable through the surviving node: in its store, and in a
    // session's initial load.
    let tenant_id = TenantId::new(tenant.clone()).unwrap();
    for (id, name) in &acked {
        let state = survivor
            .state
            .store
            .get_state(&tenant_id, "Account", id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("ACKed change {id} lost"));
        assert_eq!(state.data["name"], name.as_str());
    }
    let mut socket = connect(&survivor, &bert, &tenant).await;
    let loaded = initial_accounts(&mut socket, &tenant).await;
    for (id, name) in &acked {
        assert_eq!(
            loaded.get(id),
            Some(name),
            "ACKed change {id} in the initial load"
        );
    }
    drop(socket);
    drop(survivor);
    drop(schema);
}

#[tokio::test]
async fn acked_changes_survive_a_node_killed_mid_stream_over_nats() {
    acked_changes_survive_a_killed_node(Bus::Nats).await;
}

#[tokio::test]
async fn acked_changes_survive_a_node_killed_mid_stream_over_notify() {
    acked_changes_survive_a_killed_node(Bus::Notify).await;
}

/// `GET /health` answers 503 while a node cannot reach PostgreSQL (so a load balancer takes
/// it out) and 200 again once the database is back.
#[tokio::test]
async fn health_reports_whether_postgres_is_reachable() {
    let schema = PgSchema::create().await;
    let options: sqlx::postgres::PgConnectOptions = schema.url.parse().unwrap();
    let direct = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = Proxy::start(direct.clone()).await;
    let proxied = schema
        .url
        .replace(&direct, &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(
        proxied, schema.url,
        "the test URL names host:port explicitly"
    );
    let name = schema.name.clone();
    let node = start_with(move |config| {
        config.database_url = Some(proxied);
        config.database_schema = Some(name);
        config.database_max_connections = 2;
    })
    .await;
    let health = || async { read(bare().get(node.url("/health")).send().await.unwrap()).await };

    let (status, body) = health().await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(
        (&body["backend"], &body["database"]),
        (&json!("postgres"), &json!("ok"))
    );

    proxy.cut();
    let (status, body) = health().await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        (&body["status"], &body["database"]),
        (&json!("unhealthy"), &json!("unavailable"))
    );

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = health().await;
        if status == reqwest::StatusCode::OK {
            assert_eq!(body["database"], "ok");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthy again within 30 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(node);
    drop(schema);
}

/// On PostgreSQL a tenant's data lives in shared tables; rows left behind by a tenant whose
/// record was lost belong to nobody, and a new tenant with that id starts empty.
#[tokio::test]
async fn orphaned_rows_are_not_inherited_on_postgres() {
    let schema = PgSchema::create().await;
    let server = node(&schema, Bus::Notify).await;
    let cleo = user(&server, "cleo").await;
    let id = "a-reused-id";
    let body = json!({"uuid": id, "name": "Alt", "user_id": cleo.uuid});
    let (status, _) = read(
        cleo.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let mut socket = connect(&server, &cleo, id).await;
    send(
        &mut socket,
        account_update("e1", id, "a1", "someone else's", "2026-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(recv(&mut socket).await["outcome"], "applied");
    drop(socket);
    // The record goes, the rows stay (as after a crash between the two).
    assert!(server.state.auth_db.delete_tenant(id).await.unwrap());
    let tenant = TenantId::new(id).unwrap();
    assert!(server.state.store.cursor(&tenant).await.unwrap() > 0);

    let body = json!({"uuid": id, "name": "Neu", "user_id": cleo.uuid});
    let (status, answer) = read(
        cleo.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    assert!(
        server
            .state
            .store
            .get_state(&tenant, "Account", "a1")
            .await
            .unwrap()
            .is_none(),
        "the new tenant starts without the old rows"
    );
    drop(server);
    drop(schema);
}
