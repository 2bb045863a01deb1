//! The load generator's side of the protocol: connecting, and the messages it sends.

use std::sync::Arc;

use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's WebSocket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a session of `tenant` (with `TCP_NODELAY`, like the server) and reads its
/// `status: online`. The client's read buffer is 4 KiB, as the server's, not tungstenite's
/// 128 KiB, which it would zero-fill on every read and which would make 10,000 clients
/// cost the load generator 1.3 GB.
pub(crate) async fn connect(address: &str, tenant: &str) -> Socket {
    let url = format!("ws://{address}/ws/{tenant}");
    let config = WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(4 << 10);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .unwrap_or_else(|error| panic!("connect to {address} as {tenant}: {error}"));
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("online") => socket,
        other => panic!("expected status: online, got {other:?}"),
    }
}

/// Opens `count` sessions of `tenant`, at most `parallel` connecting at once.
pub(crate) async fn connect_many(
    address: &str,
    tenant: &str,
    count: usize,
    parallel: usize,
) -> Vec<Socket> {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (address, tenant, gate) = (address.to_owned(), tenant.to_owned(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("the gate stays open");
                connect(&address, &tenant).await
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(count);
    for task in tasks {
        sockets.push(task.await.expect("a connecting task"));
    }
    sockets
}

/// One queue entry creating account `entity` of `tenant`, as JSON text. The server stamps
/// its arrival time as the version.
pub(crate) fn entry(id: &str, tenant: &str, entity: &str) -> String {
    format!(
        r#"{{"id":"{id}","tenantId":"{tenant}","entityType":"Account","entityId":"{entity}","operationType":"create","payload":{{"id":"{entity}","name":"benchmark account","balance":12.5,"currency":"EUR"}},"timestamp":1,"status":"pending","attempts":0}}"#
    )
}

/// A `process_sync_entry` message of one entry.
pub(crate) fn single(entry: &str) -> Message {
    Message::text(format!(
        r#"{{"type":"process_sync_entry","payload":{entry}}}"#
    ))
}

/// A `process_sync_batch` message of `entries`.
pub(crate) fn batch(entries: &[String]) -> Message {
    Message::text(format!(
        r#"{{"type":"process_sync_batch","entries":[{}]}}"#,
        entries.join(",")
    ))
}

/// What a server frame is, to the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Ack,
    Nack,
    Other,
}

/// Classifies a server frame without parsing all of it.
pub(crate) fn classify(message: &Message) -> Reply {
    let Message::Text(text) = message else {
        return Reply::Other;
    };
    if text.contains(r#""type":"sync_ack""#) {
        Reply::Ack
    } else if text.contains(r#""type":"sync_nack""#) {
        Reply::Nack
    } else {
        Reply::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_valid_protocol_json() {
        let one = entry("e1", "t", "a1");
        let Message::Text(single) = single(&one) else {
            panic!("a text message")
        };
        let json: serde_json::Value = serde_json::from_str(&single).unwrap();
        assert_eq!(json["type"], "process_sync_entry");
        assert_eq!(json["payload"]["entityId"], "a1");
        assert_eq!(json["payload"]["payload"]["currency"], "EUR");
        let Message::Text(many) = batch(&[one.clone(), entry("e2", "t", "a2")]) else {
            panic!("a text message")
        };
        let json: serde_json::Value = serde_json::from_str(&many).unwrap();
        assert_eq!(json["entries"][1]["id"], "e2");
    }

    #[test]
    fn replies_are_told_apart() {
        let ack = Message::text(r#"{"id":"e1","status":"processed","type":"sync_ack"}"#);
        let nack = Message::text(r#"{"reason":"overloaded","type":"sync_nack"}"#);
        let update = Message::text(r#"{"event_type":"data_update"}"#);
        assert_eq!(classify(&ack), Reply::Ack);
        assert_eq!(classify(&nack), Reply::Nack);
        assert_eq!(classify(&update), Reply::Other);
        assert_eq!(classify(&Message::binary(vec![1])), Reply::Other);
    }
}
