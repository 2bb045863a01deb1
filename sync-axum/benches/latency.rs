//! ACK latency under moderate load, and fan-out latency to 1,000 sessions of one tenant.
//!
//! `cargo bench -p sync-axum --bench latency` runs a server and its clients in one process
//! on 127.0.0.1, with `TCP_NODELAY` on both ends (the clients' work shares the 2 cores, so
//! the figures are upper bounds):
//!
//! - **ACK latency**: 20 clients each send 100 changes one after another (each waits for
//!   its ACK; one unmeasured change first opens the tenants), with synchronous = FULL; it
//!   prints the p50, p99 and max time from send to
//!   ACK, and the total throughput.
//! - **Fan-out**: 1,000 sessions of one tenant; one more client sends 50 changes, 20 ms
//!   apart; for each change it prints the p50 and p99 of the time until *all* 1,000
//!   sessions have received the `data_update`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_axum::auth::OpenAccess;
use sync_axum::{Limits, SyncServer};
use sync_core::store::sqlite::SqliteStore;
use sync_core::{Registry, Syncable};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    name: String,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(address: &str, tenant: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws/{tenant}"))
        .await
        .unwrap();
    socket.next().await.unwrap().unwrap(); // status: online
    socket
}

/// The next message of `socket` whose key `key` is `value`.
async fn next_where(socket: &mut Socket, key: &str, value: &str) -> Value {
    loop {
        if let Message::Text(text) = socket.next().await.unwrap().unwrap() {
            let json: Value = serde_json::from_str(&text).unwrap();
            if json[key] == value {
                return json;
            }
        }
    }
}

fn change(entry: &str, tenant: &str, id: &str) -> Message {
    let message = json!({"type": "process_sync_entry", "payload": {
        "id": entry, "tenantId": tenant, "entityType": "Account", "entityId": id, "operationType": "update",
        "payload": {"id": id, "name": "benchmark"},
    }});
    Message::text(message.to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn ack_latency(address: &str) {
    const CLIENTS: usize = 20;
    const CHANGES: usize = 100;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let address = address.to_owned();
            tokio::spawn(async move {
                let tenant = format!("ack-{}", client % 4);
                let mut socket = connect(&address, &tenant).await;
                // Unmeasured: the first change opens (and creates) the tenant's database.
                socket
                    .send(change(&format!("warm-{client}"), &tenant, "warm"))
                    .await
                    .unwrap();
                next_where(&mut socket, "type", "sync_ack").await;
                let mut samples = Vec::with_capacity(CHANGES);
                for n in 0..CHANGES {
                    let sent = Instant::now();
                    socket
                        .send(change(
                            &format!("c{client}-{n}"),
                            &tenant,
                            &format!("a{client}-{n}"),
                        ))
                        .await
                        .unwrap();
                    next_where(&mut socket, "type", "sync_ack").await;
                    samples.push(sent.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    samples.sort();
    println!(
        "ACK latency, {CLIENTS} clients x {CHANGES} sequential changes over 4 tenants (FULL): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} changes/s",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
        samples.len() as f64 / elapsed.as_secs_f64()
    );
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn fanout(address: &str) {
    const SESSIONS: usize = 1_000;
    const CHANGES: usize = 50;
    let tenant = "fanout";
    let mut listeners = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        listeners.push(connect(address, tenant).await);
    }
    // Each session records when it received each change.
    let received: Vec<_> = listeners
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(CHANGES);
                for _ in 0..CHANGES {
                    next_where(&mut socket, "event_type", "data_update").await;
                    times.push(Instant::now());
                }
                times
            })
        })
        .collect();
    let mut writer = connect(address, tenant).await;
    let mut sent = Vec::with_capacity(CHANGES);
    for n in 0..CHANGES {
        sent.push(Instant::now());
        writer
            .send(change(&format!("f{n}"), tenant, "shared"))
            .await
            .unwrap();
        next_where(&mut writer, "type", "sync_ack").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut last_arrival = vec![sent[0]; CHANGES];
    for task in received {
        for (n, at) in task.await.unwrap().into_iter().enumerate() {
            last_arrival[n] = last_arrival[n].max(at);
        }
    }
    let mut to_all: Vec<Duration> = last_arrival
        .iter()
        .zip(&sent)
        .map(|(last, sent)| *last - *sent)
        .collect();
    to_all.sort();
    println!(
        "fan-out to {SESSIONS} sessions of one tenant, {CHANGES} changes: time until all received p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&to_all, 0.5)),
        ms(percentile(&to_all, 0.99)),
    );
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::builder().entity::<Account>().build().unwrap();
        let store = SqliteStore::builder(dir.path(), registry)
            .open()
            .await
            .unwrap();
        let server = Arc::new(
            SyncServer::builder(store, OpenAccess)
                .limits(Limits::default())
                .build(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(axum::serve(sync_axum::no_delay(listener), server.router()).into_future());
        ack_latency(&address).await;
        fanout(&address).await;
    });
}
