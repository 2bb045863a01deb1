//! Sync sessions over real WebSockets: connecting as a browser does, sending entries,
//! reading answers, and the FinWise payloads the tests write.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;

#[allow(unused_imports, reason = "each test file uses a different part")]
pub(crate) use sync_testkit::ws::{Socket, close_code, entry, process, recv, send, silent};

use super::{Endpoint, User};

/// The sync URL of `tenant` on `server`.
fn url(server: &impl Endpoint, tenant: &str) -> String {
    let address = server.base().trim_start_matches("http://");
    format!("ws://{address}/ws_finwise/ws/{tenant}")
}

/// The request a browser makes: the session cookie, no Authorization header.
fn cookie(token: Option<&str>) -> Vec<(&'static str, String)> {
    token
        .map(|token| ("cookie", format!("session={token}")))
        .into_iter()
        .collect()
}

pub(crate) async fn try_connect(
    server: &impl Endpoint,
    tenant: &str,
    token: Option<&str>,
) -> Result<Socket, WsError> {
    sync_testkit::ws::try_connect(&url(server, tenant), &cookie(token)).await
}

pub(crate) async fn connect(server: &impl Endpoint, user: &User, tenant: &str) -> Socket {
    sync_testkit::ws::connect(&url(server, tenant), &cookie(Some(&user.token))).await
}

pub(crate) async fn refusal(server: &impl Endpoint, tenant: &str, token: Option<&str>) -> u16 {
    sync_testkit::ws::refusal(&url(server, tenant), &cookie(token)).await
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
