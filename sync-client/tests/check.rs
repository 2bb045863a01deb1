//! An idle connection checks its cursor: a `data_update` lost on the way (a frame a proxy
//! dropped, a server bug) is caught up within the check interval, not only when the next
//! change mentions a later cursor.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{Account, Dir, builder};
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{FutureExt, StreamExt};
use serde_json::{Value as Json, json};
use sync_client::transport::{self, BoxError, Connector, Frame, Transport};

/// The client's ends of a connection: frames from the server, frames to it.
type ClientEnds = (
    UnboundedReceiver<Result<Frame, BoxError>>,
    UnboundedSender<Frame>,
);

/// The client's ends of one connection whose server side the test plays.
struct Scripted(Mutex<Option<ClientEnds>>);

/// The server's ends: frames to the client, frames from it.
type ServerEnds = (
    UnboundedSender<Result<Frame, BoxError>>,
    UnboundedReceiver<Frame>,
);

fn scripted() -> (Scripted, ServerEnds) {
    let (to_client, incoming) = unbounded();
    let (outgoing, from_client) = unbounded();
    (
        Scripted(Mutex::new(Some((incoming, outgoing)))),
        (to_client, from_client),
    )
}

impl Connector for Scripted {
    fn connect(&self) -> transport::Connecting {
        let ends = self.0.lock().unwrap().take();
        async move {
            let (incoming, outgoing) = ends.ok_or("the test allows one connection")?;
            Ok(Transport::new(incoming, outgoing))
        }
        .boxed()
    }
}

fn send(to_client: &UnboundedSender<Result<Frame, BoxError>>, message: Json) {
    to_client
        .unbounded_send(Ok(Frame::Text(message.to_string())))
        .unwrap();
}

/// The next message of `type` the client sends, answering pings on the way.
async fn next_of(
    from_client: &mut UnboundedReceiver<Frame>,
    to_client: &UnboundedSender<Result<Frame, BoxError>>,
    message_type: &str,
) -> Json {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), from_client.next())
            .await
            .unwrap_or_else(|_| panic!("no {message_type} within 10 s"))
            .expect("the client is connected");
        let Frame::Text(text) = frame else { continue };
        let message: Json = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some(found) if found == message_type => return message,
            Some("ping") => send(
                to_client,
                json!({"type": "pong", "timestamp": message["timestamp"]}),
            ),
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_idle_connection_catches_up_a_lost_data_update_within_the_check_interval() {
    let dir = Dir::new();
    let (connector, (to_client, mut from_client)) = scripted();
    let client = builder("ws://unused/ws", &dir.db("a"))
        .connector(connector)
        .ping_interval(Duration::from_millis(50))
        .check_interval(Duration::from_millis(300))
        .build()
        .await
        .unwrap();

    send(&to_client, json!({"type": "status", "status": "online"}));
    next_of(&mut from_client, &to_client, "hello").await;
    send(
        &to_client,
        json!({"type": "welcome", "server_time": 0, "cursor": 0, "protocol": 1}),
    );
    let first = next_of(&mut from_client, &to_client, "request_changes").await;
    assert_eq!(first["since"], 0);
    send(
        &to_client,
        json!({"type": "changes", "changes": [], "cursor": 0, "has_more": false, "reset": false}),
    );

    // Another client's change is committed at cursor 1; its data_update never arrives.
    // Without the check the replica would wait for the next change to learn of it.
    let checked_at = tokio::time::Instant::now();
    let check = next_of(&mut from_client, &to_client, "request_changes").await;
    assert_eq!(check["since"], 0, "{check}");
    assert!(
        checked_at.elapsed() >= Duration::from_millis(250),
        "the check waits for the interval: {:?}",
        checked_at.elapsed()
    );
    let account = Account {
        updated_at: Some("2026-03-01T10:00:00Z".parse().unwrap()),
        ..Account::new("a1", "Giro", 1.0)
    };
    send(
        &to_client,
        json!({"type": "changes", "cursor": 1, "has_more": false, "reset": false, "changes": [
            {"entity_type": "Account", "operation_type": "update", "data": account, "cursor": 1}]}),
    );
    common::eventually(
        "the lost change to reach the replica",
        Duration::from_secs(10),
        || async { client.get::<Account>("a1").await.unwrap().is_some() },
    )
    .await;
    assert_eq!(client.cursor().await.unwrap(), 1);
    client.close().await.unwrap();
}
