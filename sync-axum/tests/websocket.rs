//! The server over real sockets on 127.0.0.1: authentication before the upgrade, the
//! protocol end to end, limits, health and shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use serde_json::{Value, json};
use sync_axum::jwt::{JwtAuthenticator, JwtKeys};
use sync_axum::{Limits, ShutdownHandle, SyncServer};
use sync_core::bus::Bus;
use sync_core::bus::local::LocalBus;
use sync_core::store::sqlite::SqliteStore;
use sync_testkit::ws::{self, Socket, close_code, recv, send};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const SECRET: &[u8] = b"test secret of at least thirty-two bytes";

struct Running {
    address: String,
    keys: JwtKeys,
    shutdown: ShutdownHandle,
    _dir: tempfile::TempDir,
}

async fn start(limits: Limits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    serve(store, limits, None, dir).await
}

async fn open_store(dir: &tempfile::TempDir) -> SqliteStore {
    sync_testkit::store::open(dir.path(), sync_testkit::entities::accounts()).await
}

async fn serve(
    store: SqliteStore,
    limits: Limits,
    bus: Option<Arc<dyn Bus>>,
    dir: tempfile::TempDir,
) -> Running {
    let keys = JwtKeys::from_secret(SECRET);
    let mut builder = SyncServer::builder(store, JwtAuthenticator::new(keys.clone()))
        .path("/sync/{tenant}")
        .limits(limits);
    if let Some(bus) = bus {
        builder = builder.bus(bus);
    }
    let server = builder.build();
    let shutdown = server.shutdown_handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Running {
        address,
        keys,
        shutdown,
        _dir: dir,
    }
}

impl Running {
    fn token(&self, tenants: &[&str]) -> String {
        self.keys
            .issue("user-1", tenants, Duration::from_secs(60))
            .unwrap()
    }

    async fn try_connect(&self, tenant: &str, token: Option<&str>) -> Result<Socket, WsError> {
        let headers: Vec<_> = token.map(ws::bearer).into_iter().collect();
        ws::try_connect(&format!("ws://{}/sync/{tenant}", self.address), &headers).await
    }

    async fn connect(&self, tenant: &str) -> Socket {
        let mut socket = self
            .try_connect(tenant, Some(&self.token(&[tenant])))
            .await
            .unwrap();
        assert_eq!(
            recv(&mut socket).await,
            json!({"type": "status", "status": "online"})
        );
        socket
    }

    async fn refused_with(&self, tenant: &str, token: Option<&str>) -> u16 {
        match self.try_connect(tenant, token).await {
            Err(WsError::Http(response)) => response.status().as_u16(),
            other => panic!(
                "expected a refusal, got {:?}",
                other.map(|_| "a connection")
            ),
        }
    }
}

fn create(entry_id: &str, tenant: &str, id: &str, name: &str) -> Value {
    json!({"type": "process_sync_entry", "payload": {
        "id": entry_id, "tenantId": tenant, "entityType": "Account", "entityId": id, "operationType": "create",
        "payload": {"id": id, "name": name, "balance": 0, "updated_at": "2026-01-01T00:00:00Z"},
    }})
}

#[tokio::test]
async fn credentials_are_checked_before_the_upgrade() {
    let server = start(Limits::default()).await;
    assert_eq!(server.refused_with("t", None).await, 401, "no token");
    assert_eq!(
        server
            .refused_with("t", Some(&server.token(&["other"])))
            .await,
        403,
        "token without the tenant"
    );
    assert_eq!(
        server.refused_with("t", Some("not.a.token")).await,
        401,
        "malformed"
    );
    let forged = JwtKeys::from_secret(b"another secret of thirty-two bytes!!")
        .issue("user-1", &["t"], Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        server.refused_with("t", Some(&forged)).await,
        401,
        "wrong signature"
    );
    let expired = server.keys.issue("user-1", &["t"], Duration::ZERO).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        server.refused_with("t", Some(&expired)).await,
        401,
        "expired"
    );
    assert_eq!(
        server
            .refused_with("..%2Fx", Some(&server.token(&["../x"])))
            .await,
        400,
        "a path as tenant id"
    );
}

#[tokio::test]
async fn two_sessions_of_a_tenant_sync_and_other_tenants_see_nothing() {
    let server = start(Limits::default()).await;
    let mut origin = server.connect("t").await;
    let mut other = server.connect("t").await;
    let mut stranger = server.connect("u").await;

    send(&mut origin, create("e1", "t", "a1", "Giro")).await;
    let ack = recv(&mut origin).await;
    assert_eq!(
        (&ack["type"], &ack["outcome"]),
        (&json!("sync_ack"), &json!("applied"))
    );
    let update = recv(&mut other).await;
    assert_eq!(update["event_type"], "data_update");
    assert_eq!(update["data"]["single_entity"]["name"], "Giro");

    send(
        &mut stranger,
        json!({"type": "request_initial_data", "tenant_id": "u"}),
    )
    .await;
    assert_eq!(
        recv(&mut stranger).await["payload"]["accounts"],
        json!([]),
        "u's first message is its own load, not t's update"
    );
    send(&mut origin, create("e2", "u", "a2", "intruder")).await;
    assert_eq!(recv(&mut origin).await["reason"], "forbidden");
}

#[tokio::test]
async fn an_oversize_message_closes_only_its_connection() {
    let mut limits = Limits::default();
    limits.session.wire.max_message_bytes = 4096;
    let server = start(limits).await;
    let mut big = server.connect("t").await;
    let mut bystander = server.connect("t").await;
    let huge = create("e1", "t", "a1", &"x".repeat(10_000));
    let _ = big.send(Message::text(huge.to_string())).await;
    assert_eq!(close_code(&mut big).await, CloseCode::Size);

    send(&mut bystander, create("e2", "t", "a2", "fine")).await;
    assert_eq!(
        recv(&mut bystander).await["outcome"],
        "applied",
        "the server keeps serving the others"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let server = start(Limits {
        max_connections: 1,
        ..Limits::default()
    })
    .await;
    let _first = server.connect("t").await;
    assert_eq!(
        server.refused_with("t", Some(&server.token(&["t"]))).await,
        503
    );
}

#[tokio::test]
async fn health_reports_and_shutdown_closes_every_session() {
    let server = start(Limits::default()).await;
    let mut first = server.connect("t").await;
    let mut second = server.connect("u").await;

    let health: Value = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = TcpStream::connect(&server.address).await.unwrap();
        socket
            .write_all(
                format!(
                    "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    server.address
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut text = String::new();
        socket.read_to_string(&mut text).await.unwrap();
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    };
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["connections"], 2);

    server.shutdown.shutdown();
    for socket in [&mut first, &mut second] {
        assert_eq!(
            recv(socket).await,
            json!({"type": "status", "status": "shutdown"})
        );
        assert_eq!(close_code(socket).await, CloseCode::Away);
    }
}

/// Two servers on one database with a bus: a change through one reaches the other's
/// sessions, and a tenant closed on one is closed on both.
#[tokio::test]
async fn two_nodes_with_a_bus_share_changes_and_tenant_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(1024));
    let node_a = serve(
        store.clone(),
        Limits::default(),
        Some(bus.clone()),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let node_b = serve(store, Limits::default(), Some(bus), dir).await;
    let mut origin = node_a.connect("t").await;
    let mut far = node_b.connect("t").await;
    // A round trip: once answered, far's session is subscribed.
    send(&mut far, json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(recv(&mut far).await["type"], "pong");

    send(&mut origin, create("e1", "t", "a1", "Giro")).await;
    assert_eq!(recv(&mut origin).await["outcome"], "applied");
    let update = recv(&mut far).await;
    assert_eq!(update["event_type"], "data_update");
    assert_eq!(update["data"]["single_entity"]["name"], "Giro");

    node_a
        .shutdown
        .close_tenant(&sync_core::TenantId::new("t").unwrap());
    assert_eq!(close_code(&mut origin).await, CloseCode::Policy);
    assert_eq!(close_code(&mut far).await, CloseCode::Policy);
}
