//! A WebSocket test client that speaks the wire protocol as raw JSON, as a browser does:
//! connect with headers, send, receive (skipping pings), expect silence or a close, and the
//! client messages the tests send.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderName;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for an answer or a close.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Opens `url` (`ws://…`) with `headers` (for example `("authorization", "Bearer …")` or
/// `("cookie", "session=…")`); the server's refusal is the `Err`.
pub async fn try_connect(url: &str, headers: &[(&str, String)]) -> Result<Socket, WsError> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        request
            .headers_mut()
            .insert(name, value.parse().expect("a valid header value"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// Opens `url` and expects the server's first message, `status: online`.
pub async fn connect(url: &str, headers: &[(&str, String)]) -> Socket {
    let mut socket = try_connect(url, headers).await.unwrap();
    assert_eq!(
        recv(&mut socket).await,
        json!({"type": "status", "status": "online"})
    );
    socket
}

/// The `Authorization` header of a bearer token.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// The HTTP status with which the server refuses the upgrade of `url`; panics when it
/// accepts.
pub async fn refusal(url: &str, headers: &[(&str, String)]) -> u16 {
    match try_connect(url, headers).await {
        Err(WsError::Http(response)) => response.status().as_u16(),
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|_| "a connection")
        ),
    }
}

/// Sends `message` as a text frame.
pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next message other than a ping, within [`ANSWER_WITHIN`]; panics on a close.
pub async fn recv(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(ANSWER_WITHIN, socket.next())
            .await
            .expect("an answer in time");
        match frame.expect("open").expect("readable") {
            Message::Text(text) => {
                let json: Value = serde_json::from_str(&text).unwrap();
                if json["type"] != "ping" {
                    return json;
                }
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Asserts that nothing arrives for 200 ms.
pub async fn silent(socket: &mut Socket) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
        panic!("expected nothing, got {frame:?}");
    }
}

/// The code of the close frame that comes next, skipping other frames.
pub async fn close_code(socket: &mut Socket) -> CloseCode {
    loop {
        match tokio::time::timeout(ANSWER_WITHIN, socket.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// A sync entry as the FinWise frontend queues it.
pub fn entry(
    entry_id: &str,
    tenant: &str,
    entity_type: &str,
    operation: &str,
    entity_id: &str,
    payload: Value,
) -> Value {
    json!({
        "id": entry_id, "tenantId": tenant, "entityType": entity_type, "entityId": entity_id,
        "operationType": operation, "payload": payload, "timestamp": 1_767_225_600_000_i64,
        "status": "pending", "attempts": 0,
    })
}

/// `process_sync_entry` of `entry`.
pub fn process(entry: Value) -> Value {
    json!({"type": "process_sync_entry", "payload": entry})
}
