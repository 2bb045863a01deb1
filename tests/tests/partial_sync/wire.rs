//! The wire of the partial-sync tests: a server (sync-axum) on 127.0.0.1 over a fixture's
//! store, clients speaking raw JSON, and readers of what they receive.

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use serde_json::Value;
use sync_axum::jwt::{JwtAuthenticator, JwtKeys};
use sync_axum::{Authenticator, Principal, Refusal, SyncServer};
use sync_core::TenantId;
use sync_core::bus::Bus;
use sync_core::bus::local::LocalBus;
use sync_testkit::backend::Fixture;
use sync_testkit::ws::{self, Socket, entry, process, recv, send};

pub(crate) const SECRET: &[u8] = b"partial sync test secret, 32 bytes or more";
pub(crate) const TENANT: &str = "household";
pub(crate) const STREAM: &str = "payments_by_account";

pub(crate) struct Server {
    address: String,
    keys: JwtKeys,
}

/// The JWT check, and a role by subject: `viewer…` is a viewer, `owner…` an owner, anyone
/// else an editor.
struct RoleBySubject(JwtAuthenticator);

impl Authenticator for RoleBySubject {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        let principal = self.0.authenticate(request, tenant).await?;
        let role = if principal.subject.starts_with("viewer") {
            "viewer"
        } else if principal.subject.starts_with("owner") {
            "owner"
        } else {
            "editor"
        };
        Ok(principal.with_role(role))
    }
}

pub(crate) async fn serve(fixture: &Fixture) -> Server {
    serve_node(fixture, None).await
}

/// Two servers (nodes) over the fixture's store, with a bus between them.
pub(crate) async fn serve_nodes(fixture: &Fixture) -> (Server, Server) {
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(1024));
    (
        serve_node(fixture, Some(bus.clone())).await,
        serve_node(fixture, Some(bus)).await,
    )
}

async fn serve_node(fixture: &Fixture, bus: Option<Arc<dyn Bus>>) -> Server {
    let keys = JwtKeys::from_secret(SECRET);
    let authenticator = RoleBySubject(JwtAuthenticator::new(keys.clone()));
    let mut builder =
        SyncServer::builder(fixture.store.clone(), authenticator).path("/sync/{tenant}");
    if let Some(bus) = bus {
        builder = builder.bus(bus);
    }
    let server = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = server.router();
    tokio::spawn(async move { sync_axum::serve(listener, router).await });
    Server { address, keys }
}

impl Server {
    /// A connected client of `user-1`, past its `status: online`.
    pub(crate) async fn connect(&self) -> Socket {
        self.connect_as("user-1").await
    }

    /// A connected client of `subject`, past its `status: online` (which `ws::connect`
    /// reads).
    pub(crate) async fn connect_as(&self, subject: &str) -> Socket {
        let token = self
            .keys
            .issue(subject, &[TENANT], Duration::from_secs(60))
            .unwrap();
        let url = format!("ws://{}/sync/{TENANT}", self.address);
        ws::connect(&url, &[ws::bearer(&token)]).await
    }
}

/// Writes a payment and waits for its ACK.
pub(crate) async fn write(socket: &mut Socket, entry_id: &str, op: &str, payment: Value) {
    let answer = write_as(socket, "Payment", entry_id, op, payment).await;
    assert_eq!(answer["type"], "sync_ack", "{answer}");
}

/// Writes an entity of `entity_type` and returns the answer (ACK or NACK).
pub(crate) async fn write_as(
    socket: &mut Socket,
    entity_type: &str,
    entry_id: &str,
    op: &str,
    data: Value,
) -> Value {
    let id = data["id"].as_str().unwrap().to_owned();
    send(
        socket,
        process(entry(entry_id, TENANT, entity_type, op, &id, data)),
    )
    .await;
    recv(socket).await
}

pub(crate) fn at(second: u32) -> String {
    format!("2026-01-01T00:00:{second:02}.000Z")
}

/// Subscribes and reads up to its checkpoint: (subscribed, everything between, checkpoint).
pub(crate) async fn subscribe(socket: &mut Socket, request: Value) -> (Value, Vec<Value>, u64) {
    send(socket, request).await;
    // Until it subscribes, the session takes the entity whole: a `data_update` of a change
    // committed just before may still arrive.
    let mut subscribed = recv(socket).await;
    while subscribed["event_type"] == "data_update" {
        subscribed = recv(socket).await;
    }
    if subscribed["type"] != "subscribed" {
        assert_eq!(subscribed["type"], "subscription_error", "{subscribed}");
        return (subscribed, Vec::new(), 0);
    }
    let mut between = Vec::new();
    loop {
        let message = recv(socket).await;
        if message["type"] == "checkpoint" {
            assert_eq!(message["subscription"], subscribed["id"]);
            // It counts the catch-up's frames, so a client missing one can tell.
            assert_eq!(
                message["pages"].as_u64(),
                Some(between.len() as u64),
                "{message}"
            );
            return (subscribed, between, message["cursor"].as_u64().unwrap());
        }
        between.push(message);
    }
}

/// Every change of the stream pages in `messages`, as (op, bucket, entity id).
pub(crate) fn changes(messages: &[Value]) -> Vec<(String, String, String)> {
    messages
        .iter()
        .filter(|message| message["type"] == "stream_page")
        .flat_map(|page| page["changes"].as_array().unwrap().clone())
        .map(|change| {
            (
                change["op"].as_str().unwrap().to_owned(),
                change["bucket"].as_str().unwrap().to_owned(),
                change["entity_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn of_type<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|message| message["type"] == kind)
        .collect()
}

pub(crate) fn change(op: &str, bucket: &str, id: &str) -> (String, String, String) {
    (op.to_owned(), bucket.to_owned(), id.to_owned())
}
