//! Sync sessions over real WebSockets: connecting as a browser does, sending entries,
//! reading answers, and the FinWise payloads the tests write.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Endpoint, User};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The request a browser makes: the session cookie, no Authorization header.
pub(crate) async fn try_connect(
    server: &impl Endpoint,
    tenant: &str,
    cookie: Option<&str>,
) -> Result<Socket, WsError> {
    let address = server.base().trim_start_matches("http://");
    let mut request = format!("ws://{address}/ws_finwise/ws/{tenant}")
        .into_client_request()
        .unwrap();
    if let Some(token) = cookie {
        request
            .headers_mut()
            .insert("cookie", format!("session={token}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

pub(crate) async fn connect(server: &impl Endpoint, user: &User, tenant: &str) -> Socket {
    let mut socket = try_connect(server, tenant, Some(&user.token))
        .await
        .unwrap();
    assert_eq!(
        recv(&mut socket).await,
        json!({"type": "status", "status": "online"})
    );
    socket
}

pub(crate) async fn refusal(server: &impl Endpoint, tenant: &str, cookie: Option<&str>) -> u16 {
    match try_connect(server, tenant, cookie).await {
        Err(WsError::Http(response)) => response.status().as_u16(),
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|_| "a connection")
        ),
    }
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

pub(crate) async fn recv(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an answer within 10 s");
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

pub(crate) async fn silent(socket: &mut Socket) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
        panic!("expected nothing, got {frame:?}");
    }
}

pub(crate) async fn close_code(socket: &mut Socket) -> CloseCode {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed within 10 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub(crate) fn entry(
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

pub(crate) fn process(entry: Value) -> Value {
    json!({"type": "process_sync_entry", "payload": entry})
}

pub(crate) fn account(id: &str, name: &str, at: &str) -> Value {
    json!({
        "id": id, "name": name, "description": "", "note": null, "accountType": "Giro", "isActive": true,
        "isOfflineBudget": false, "accountGroupId": "g1", "sortOrder": 0, "iban": null, "balance": 0,
        "creditLimit": null, "offset": 0, "image": null, "updated_at": at,
    })
}

pub(crate) fn account_update(
    entry_id: &str,
    tenant: &str,
    id: &str,
    name: &str,
    at: &str,
) -> Value {
    process(entry(
        entry_id,
        tenant,
        "Account",
        "update",
        id,
        account(id, name, at),
    ))
}
