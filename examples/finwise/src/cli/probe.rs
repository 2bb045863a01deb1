//! Asks the server how far the tenant's change feed goes, for the catch-up progress bar.
//!
//! `sync-client` reports the cursor the replica has reached but not the server's, which
//! the `welcome` of each connection carries. So before `finwise-cli sync` starts the
//! client, it opens a connection of its own, says `hello`, reads `welcome.cursor` and
//! closes: the target of the bar.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;

/// The tenant's current cursor on the server at `url` (the tenant's sync socket), or
/// `None` when it cannot be learned within `timeout`.
pub(crate) async fn server_cursor(
    url: &str,
    token: &str,
    client_id: &str,
    timeout: Duration,
) -> Option<u64> {
    let probe = async {
        let mut request = url.into_client_request().ok()?;
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
        request.headers_mut().insert(AUTHORIZATION, bearer);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
        let hello = json!({
            "type": "hello",
            "client_id": format!("{client_id}:progress"),
            "protocol": sync_core::protocol::PROTOCOL_VERSION,
            "cursor": null,
        });
        let mut cursor = None;
        let mut greeted = false;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(json) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            match json.get("type").and_then(Value::as_str) {
                // PROTOCOL.md A.1: nothing sync-related before `status: online`.
                Some("status") if !greeted => {
                    greeted = true;
                    socket.send(Message::text(hello.to_string())).await.ok()?;
                }
                Some("welcome") => {
                    cursor = json.get("cursor").and_then(Value::as_u64);
                    break;
                }
                _ => {}
            }
        }
        let _ = socket.close(None).await;
        cursor
    };
    tokio::time::timeout(timeout, probe).await.ok().flatten()
}
