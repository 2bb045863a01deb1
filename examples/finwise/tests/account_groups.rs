//! A member limited to some account groups, end to end over HTTP and WebSockets, on
//! SQLite and on PostgreSQL: the owner gives a member of the role `member` account groups;
//! the member's sessions then see and write only those groups' accounts' transactions,
//! follow an account moved into a group, lose what a narrowed grant takes, and never
//! receive or write the grants; the owner's and editors' sessions (the unchanged FinWise
//! frontend) keep receiving everything whole.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::ws::{connect, entry, process, recv, send, silent};
use common::{PgSchema, Server, User, add_member, create_tenant, read, start, start_with, user};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sync_testkit::ws::Socket;

const AT: &str = "2026-03-01T10:00:00.000Z";
const LATER: &str = "2026-03-02T10:00:00.000Z";
const STREAM: &str = "transactions_by_account";

fn group(id: &str) -> Value {
    json!({"id": id, "name": id, "sortOrder": 0, "logo_path": null, "updated_at": AT})
}

fn account(id: &str, group: &str, at: &str) -> Value {
    json!({
        "id": id, "name": id, "accountType": "Giro", "isActive": true, "isOfflineBudget": false,
        "accountGroupId": group, "sortOrder": 0, "balance": 0, "offset": 0, "updated_at": at,
    })
}

fn transaction(id: &str, account: &str, at: &str) -> Value {
    json!({
        "id": id, "accountId": account, "date": "2026-03-01", "valueDate": "2026-03-01",
        "amount": -12.5, "type": "EXPENSE", "runningBalance": 0, "updated_at": at,
    })
}

/// Writes one entity over `socket` and returns the answer (`sync_ack` or `sync_nack`).
async fn write(socket: &mut Socket, tenant: &str, entity: &str, id: &str, data: Value) -> Value {
    let entry_id = format!("{entity}-{id}-{}", uuid::Uuid::new_v4());
    send(
        socket,
        process(entry(&entry_id, tenant, entity, "update", id, data)),
    )
    .await;
    loop {
        let answer = recv(socket).await;
        if matches!(answer["type"].as_str(), Some("sync_ack" | "sync_nack"))
            && answer["id"] == entry_id
        {
            return answer;
        }
    }
}

/// Writes one entity over `socket`, which must be ACKed.
async fn acked(socket: &mut Socket, tenant: &str, entity: &str, id: &str, data: Value) {
    let answer = write(socket, tenant, entity, id, data).await;
    assert_eq!(answer["type"], "sync_ack", "{entity} {id}: {answer}");
}

/// Writes one entity over `socket`, which must be NACKed `forbidden`.
async fn forbidden(socket: &mut Socket, tenant: &str, entity: &str, id: &str, data: Value) {
    let answer = write(socket, tenant, entity, id, data).await;
    assert_eq!(
        (answer["type"].as_str(), answer["reason"].as_str()),
        (Some("sync_nack"), Some("forbidden")),
        "{entity} {id}: {answer}"
    );
}

/// The next message of `socket` of type `kind`, skipping whole-tenant updates.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = recv(socket).await;
            if message["type"] == kind || message["event_type"] == kind {
                return message;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} within 10 s"))
}

async fn put_groups(
    server: &Server,
    caller: &User,
    tenant: &str,
    member: &str,
    groups: &[&str],
) -> (StatusCode, Value) {
    read(
        caller
            .client
            .put(server.url(&format!(
                "/tenants/{tenant}/members/{member}/account-groups"
            )))
            .json(&json!({"account_groups": groups}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// An initial load: the ids of each collection in it.
async fn initial_ids(socket: &mut Socket, tenant: &str) -> BTreeMap<String, Vec<String>> {
    send(
        socket,
        json!({"type": "request_initial_data", "tenant_id": tenant}),
    )
    .await;
    let load = next_of(socket, "initial_data_load").await;
    load["payload"]
        .as_object()
        .unwrap_or_else(|| panic!("{load}"))
        .iter()
        .map(|(collection, rows)| {
            let mut ids: Vec<String> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            (collection.clone(), ids)
        })
        .collect()
}

async fn a_member_sees_only_its_account_groups(server: Server) {
    let owner = user(&server, "olga").await;
    let mia = user(&server, "mia").await;
    let eddie = user(&server, "eddie").await;
    let tenant = create_tenant(&server, &owner, "Haushalt").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        add_member(&server, &owner, &tenant, "mia@example.com", "member")
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        add_member(&server, &owner, &tenant, "eddie@example.com", "editor")
            .await
            .0,
        StatusCode::CREATED
    );

    // The owner's data, as its frontend writes it: two groups, an account and a
    // transaction in each.
    let mut owner_socket = connect(&server, &owner, &tenant).await;
    for (entity, id, data) in [
        ("AccountGroup", "g1", group("g1")),
        ("AccountGroup", "g2", group("g2")),
        ("Account", "a1", account("a1", "g1", AT)),
        ("Account", "a2", account("a2", "g2", AT)),
        ("Transaction", "t1", transaction("t1", "a1", AT)),
        ("Transaction", "t2", transaction("t2", "a2", AT)),
    ] {
        acked(&mut owner_socket, &tenant, entity, id, data).await;
    }

    // Her tenant list names her role, which `finwise-cli` reads to subscribe her accounts.
    let (_, listed) = read(mia.client.get(server.url("/tenants")).send().await.unwrap()).await;
    assert_eq!(listed[0]["role"], "member", "{listed}");

    // Only the owner sets groups, only for the role `member`, only groups that exist.
    let (status, _) = put_groups(&server, &mia, &tenant, &mia.uuid, &["g1", "g2"]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = put_groups(&server, &owner, &tenant, &eddie.uuid, &["g1"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = put_groups(&server, &owner, &tenant, &mia.uuid, &["g1", "nope"]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = put_groups(&server, &owner, &tenant, &mia.uuid, &["g1"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accounts"], json!(["a1"]), "{body}");

    // Mia's frontend-like session gets the accounts whole but no transaction, nor any
    // grant; the owner's and the editor's get every transaction and no grant.
    // The grants are no part of anyone's load: the frontend sees the nine collections it
    // always saw.
    let mut mia_socket = connect(&server, &mia, &tenant).await;
    let load = initial_ids(&mut mia_socket, &tenant).await;
    assert!(load["accounts"].is_empty(), "{load:?}");
    assert_eq!(load["account_groups"], ["g1", "g2"]);
    assert!(load["transactions"].is_empty(), "{load:?}");
    assert_eq!(load.len(), 9, "{load:?}");
    assert!(!load.contains_key("account_grants"));
    for socket in [
        &mut owner_socket,
        &mut connect(&server, &eddie, &tenant).await,
    ] {
        let load = initial_ids(socket, &tenant).await;
        assert_eq!(load["accounts"], ["a1", "a2"]);
        assert_eq!(load["transactions"], ["t1", "t2"]);
        assert_eq!(load.len(), 9, "{load:?}");
    }

    // Her accounts come through `accounts_by_group`, keyed by her groups (on a socket of
    // their own here, to keep the transaction checks below apart).
    let mut mia_accounts = connect(&server, &mia, &tenant).await;
    send(
        &mut mia_accounts,
        json!({"type": "subscribe", "id": "accounts", "stream": "accounts_by_group", "parameters": []}),
    )
    .await;
    let subscribed = next_of(&mut mia_accounts, "subscribed").await;
    assert_eq!(subscribed["buckets"], json!(["g1"]), "{subscribed}");
    let snapshot = next_of(&mut mia_accounts, "bucket_snapshot").await;
    let rows: Vec<&str> = snapshot["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["a1"], "{snapshot}");
    drop(mia_accounts);

    // Nor do data status answers give away a row of them.
    send(
        &mut mia_socket,
        json!({"type": "data_status_request", "tenant_id": tenant}),
    )
    .await;
    let status = next_of(&mut mia_socket, "data_status_response").await;
    assert_eq!(
        status["entity_checksums"]["Transaction"],
        json!([]),
        "{status}"
    );
    assert!(
        status["entity_checksums"].get("AccountGrant").is_none(),
        "{status}"
    );
    send(
        &mut owner_socket,
        json!({"type": "data_status_request", "tenant_id": tenant}),
    )
    .await;
    let status = next_of(&mut owner_socket, "data_status_response").await;
    assert_eq!(
        status["entity_checksums"]["Transaction"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{status}"
    );
    assert!(
        status["entity_checksums"].get("AccountGrant").is_none(),
        "{status}"
    );

    // Subscribed to both accounts, Mia holds only a1's bucket.
    send(
        &mut mia_socket,
        json!({"type": "subscribe", "id": "tx", "stream": STREAM, "parameters": ["a1", "a2"]}),
    )
    .await;
    let subscribed = next_of(&mut mia_socket, "subscribed").await;
    assert_eq!(subscribed["buckets"], json!(["a1"]), "{subscribed}");
    let snapshot = next_of(&mut mia_socket, "bucket_snapshot").await;
    assert_eq!(
        (
            snapshot["bucket"].as_str(),
            snapshot["rows"][0]["id"].as_str()
        ),
        (Some("a1"), Some("t1")),
        "{snapshot}"
    );
    next_of(&mut mia_socket, "checkpoint").await;

    // She writes in a1, not in a2, and not a grant of her own.
    acked(
        &mut mia_socket,
        &tenant,
        "Transaction",
        "t3",
        transaction("t3", "a1", AT),
    )
    .await;
    forbidden(
        &mut mia_socket,
        &tenant,
        "Transaction",
        "t4",
        transaction("t4", "a2", AT),
    )
    .await;
    let grant = json!({"id": "mine", "userId": mia.uuid, "accountGroupId": "g2", "accountId": "a2", "updated_at": AT});
    forbidden(&mut mia_socket, &tenant, "AccountGrant", "mine", grant).await;

    // Nor may she move an account into her group, which would give her its transactions.
    forbidden(
        &mut mia_socket,
        &tenant,
        "Account",
        "a2",
        account("a2", "g1", LATER),
    )
    .await;

    // The owner moves a2 into g1: its transactions arrive, as a snapshot of the new bucket.
    acked(
        &mut owner_socket,
        &tenant,
        "Account",
        "a2",
        account("a2", "g1", LATER),
    )
    .await;
    let snapshot = next_of(&mut mia_socket, "bucket_snapshot").await;
    assert_eq!(
        (
            snapshot["bucket"].as_str(),
            snapshot["rows"][0]["id"].as_str()
        ),
        (Some("a2"), Some("t2")),
        "{snapshot}"
    );
    next_of(&mut mia_socket, "checkpoint").await;
    let answer = write(
        &mut mia_socket,
        &tenant,
        "Transaction",
        "t2",
        transaction("t2", "a2", LATER),
    )
    .await;
    assert_eq!(answer["type"], "sync_ack", "now a2 is hers: {answer}");

    // The owner narrows her to g2, which has no account now: both buckets leave.
    let (status, body) = put_groups(&server, &owner, &tenant, &mia.uuid, &["g2"]).await;
    assert_eq!(
        (status, &body["accounts"]),
        (StatusCode::OK, &json!([])),
        "{body}"
    );
    let mut removed = Vec::new();
    for _ in 0..2 {
        let message = next_of(&mut mia_socket, "bucket_removed").await;
        assert_eq!(message["reason"], "revoked", "{message}");
        removed.push(message["bucket"].as_str().unwrap().to_owned());
    }
    removed.sort();
    assert_eq!(removed, ["a1", "a2"]);
    next_of(&mut mia_socket, "checkpoint").await;
    let (status, body) = read(
        owner
            .client
            .get(server.url(&format!(
                "/tenants/{tenant}/members/{}/account-groups",
                mia.uuid
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["account_groups"]),
        (StatusCode::OK, &json!(["g2"])),
        "{body}"
    );

    // A new account in g2 is hers at once: asked for, its bucket is held, and a
    // transaction booked on it follows live.
    acked(
        &mut owner_socket,
        &tenant,
        "Account",
        "a3",
        account("a3", "g2", LATER),
    )
    .await;
    let subscribed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // The grant follows the account's commit: until it lands, a3 is not hers yet.
            send(&mut mia_socket, json!({"type": "subscribe", "id": "tx", "stream": STREAM, "parameters": ["a1", "a2", "a3"]})).await;
            let subscribed = next_of(&mut mia_socket, "subscribed").await;
            next_of(&mut mia_socket, "checkpoint").await;
            if subscribed["buckets"] != json!([]) {
                return subscribed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a3 granted within 10 s");
    assert_eq!(subscribed["buckets"], json!(["a3"]), "{subscribed}");
    acked(
        &mut owner_socket,
        &tenant,
        "Transaction",
        "t5",
        transaction("t5", "a3", LATER),
    )
    .await;
    let page = next_of(&mut mia_socket, "stream_page").await;
    assert_eq!(page["changes"][0]["data"]["id"], "t5", "{page}");
    next_of(&mut mia_socket, "checkpoint").await;
    // Nothing of a1 follows: a write there reaches the owner, not her.
    acked(
        &mut owner_socket,
        &tenant,
        "Transaction",
        "t1",
        transaction("t1", "a1", LATER),
    )
    .await;
    silent(&mut mia_socket).await;
}

#[tokio::test]
async fn a_member_sees_only_its_account_groups_on_sqlite() {
    a_member_sees_only_its_account_groups(start().await).await;
}

#[tokio::test]
async fn a_member_sees_only_its_account_groups_on_postgres() {
    let schema = PgSchema::create().await;
    let (url, name) = (schema.url.clone(), schema.name.clone());
    let mut server = start_with(move |config| {
        config.database_url = Some(url);
        config.database_schema = Some(name);
        config.database_max_connections = 3;
    })
    .await;
    server.schema = Some(schema);
    a_member_sees_only_its_account_groups(server).await;
}
