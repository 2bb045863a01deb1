//! The FinWise server's sync route end to end: real sockets on 127.0.0.1, the FinWise
//! client flow, last-write-wins and tombstones as two sessions see them, tenant isolation,
//! and bad input answered while the server keeps serving everyone else.

mod common;

use std::time::Duration;

use common::ws::{
    Socket, account, account_update, close_code, connect, entry, process, recv, refusal, send,
    silent,
};
use common::{Endpoint, User, create_tenant, start, start_with, user};
use futures::SinkExt;
use serde_json::{Value, json};
use sync_core::TenantId;
use sync_core::store::Store;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A user with a tenant, and the tenant's id.
async fn owner(server: &impl Endpoint, name: &str) -> (User, String) {
    let user = user(server, name).await;
    let tenant = create_tenant(server, &user, &format!("{name}'s household")).await;
    let tenant_id = tenant["uuid"].as_str().unwrap().to_owned();
    (user, tenant_id)
}

/// The entries a new FinWise tenant sends: 2 category groups, 8 categories, 2 account
/// groups and 1 account.
fn new_tenant_entries(tenant: &str) -> Vec<Value> {
    let at = "2026-01-01T10:00:00.000Z";
    let mut entries = Vec::new();
    for (n, (name, income)) in [("Einnahmen", true), ("Ausgaben", false)]
        .into_iter()
        .enumerate()
    {
        let id = format!("cg{n}");
        let payload = json!({"id": id, "name": name, "sortOrder": n, "isIncomeGroup": income, "updated_at": at});
        entries.push(entry(
            &format!("e-cg{n}"),
            tenant,
            "CategoryGroup",
            "create",
            &id,
            payload,
        ));
    }
    for n in 0..8 {
        let id = format!("c{n}");
        let payload = json!({
            "id": id, "name": format!("Kategorie {n}"), "icon": null, "budgeted": 0, "activity": 0, "available": 0,
            "isIncomeCategory": n == 0, "isHidden": false, "isActive": true, "sortOrder": n,
            "categoryGroupId": if n == 0 { "cg0" } else { "cg1" }, "parentCategoryId": null, "isSavingsGoal": false,
            "updated_at": at,
        });
        entries.push(entry(
            &format!("e-c{n}"),
            tenant,
            "Category",
            "create",
            &id,
            payload,
        ));
    }
    for n in 0..2 {
        let id = format!("ag{n}");
        let payload = json!({"id": id, "name": format!("Gruppe {n}"), "sortOrder": n, "image": null, "updated_at": at});
        entries.push(entry(
            &format!("e-ag{n}"),
            tenant,
            "AccountGroup",
            "create",
            &id,
            payload,
        ));
    }
    entries.push(entry(
        "e-a0",
        tenant,
        "Account",
        "create",
        "a0",
        account("a0", "Girokonto", at),
    ));
    entries
}

#[tokio::test]
async fn the_finwise_client_flow_works_unchanged() {
    let server = start().await;
    let (user, tenant) = owner(&server, "anna").await;
    let mut socket = connect(&server, &user, &tenant).await;

    let entries = new_tenant_entries(&tenant);
    assert_eq!(entries.len(), 13);
    for entry in &entries {
        send(&mut socket, process(entry.clone())).await;
    }
    for entry in &entries {
        let ack = recv(&mut socket).await;
        assert_eq!(ack["type"], "sync_ack", "{ack}");
        assert_eq!(ack["id"], entry["id"]);
        assert_eq!(ack["status"], "processed");
        assert_eq!(ack["entityType"], entry["entityType"]);
        assert_eq!(ack["outcome"], "applied");
    }

    send(
        &mut socket,
        json!({"type": "request_initial_data", "tenant_id": tenant}),
    )
    .await;
    let load = recv(&mut socket).await;
    assert_eq!(load["event_type"], "initial_data_load");
    assert_eq!(load["tenant_id"], tenant.as_str());
    let payload = load["payload"].as_object().unwrap();
    let mut collections: Vec<&str> = payload.keys().map(String::as_str).collect();
    collections.sort_unstable();
    assert_eq!(
        collections,
        [
            "account_groups",
            "accounts",
            "automation_rules",
            "categories",
            "category_groups",
            "planning_transactions",
            "recipients",
            "tags",
            "transactions"
        ]
    );
    let counts: Vec<usize> = [
        "category_groups",
        "categories",
        "account_groups",
        "accounts",
        "tags",
    ]
    .iter()
    .map(|collection| payload[*collection].as_array().unwrap().len())
    .collect();
    assert_eq!(counts, [2, 8, 2, 1, 0]);
    let account = &payload["accounts"][0];
    assert_eq!(
        account["accountType"], "giro",
        "case-insensitive input, canonical output"
    );
    assert_eq!(account["updated_at"], "2026-01-01T10:00:00.000Z");
}

#[tokio::test]
async fn two_sessions_converge_under_last_write_wins() {
    let server = start().await;
    let (user, tenant) = owner(&server, "ben").await;
    let mut origin = connect(&server, &user, &tenant).await;
    let mut other = connect(&server, &user, &tenant).await;

    send(
        &mut origin,
        process(entry(
            "e1",
            &tenant,
            "Account",
            "create",
            "a1",
            account("a1", "first", "2026-01-01T00:00:00Z"),
        )),
    )
    .await;
    assert_eq!(recv(&mut origin).await["outcome"], "applied");
    let update = recv(&mut other).await;
    assert_eq!(
        (&update["event_type"], &update["operation_type"]),
        (&json!("data_update"), &json!("create"))
    );
    assert_eq!(update["data"]["single_entity"]["name"], "first");
    silent(&mut origin).await;

    // Newer wins.
    send(
        &mut origin,
        account_update("e2", &tenant, "a1", "newer", "2026-01-02T00:00:00Z"),
    )
    .await;
    assert_eq!(recv(&mut origin).await["outcome"], "applied");
    assert_eq!(
        recv(&mut other).await["data"]["single_entity"]["name"],
        "newer"
    );

    // Older loses: the origin is told the winner twice; the store keeps the newer.
    send(
        &mut other,
        account_update("e3", &tenant, "a1", "older", "2026-01-01T12:00:00Z"),
    )
    .await;
    let ack = recv(&mut other).await;
    assert_eq!(
        (&ack["outcome"], &ack["data"]["name"]),
        (&json!("superseded"), &json!("newer"))
    );
    let winner = recv(&mut other).await;
    assert_eq!(
        (
            &winner["event_type"],
            &winner["data"]["single_entity"]["name"]
        ),
        (&json!("data_update"), &json!("newer"))
    );
    silent(&mut origin).await;

    // Equal versions: the later arrival wins.
    send(
        &mut other,
        account_update(
            "e4",
            &tenant,
            "a1",
            "same time, later",
            "2026-01-02T00:00:00Z",
        ),
    )
    .await;
    assert_eq!(recv(&mut other).await["outcome"], "applied");
    assert_eq!(
        recv(&mut origin).await["data"]["single_entity"]["name"],
        "same time, later"
    );

    // A retried entry is a duplicate and is applied once.
    send(
        &mut other,
        account_update(
            "e4",
            &tenant,
            "a1",
            "same time, later",
            "2026-01-02T00:00:00Z",
        ),
    )
    .await;
    assert_eq!(recv(&mut other).await["outcome"], "duplicate");
    silent(&mut origin).await;
    let tenant_id = TenantId::new(tenant.clone()).unwrap();
    assert_eq!(
        server.state.store.cursor(&tenant_id).await.unwrap(),
        3,
        "three applied changes"
    );
}

#[tokio::test]
async fn deletes_leave_tombstones_that_older_changes_cannot_undo() {
    let server = start().await;
    let (user, tenant) = owner(&server, "cleo").await;
    let mut socket = connect(&server, &user, &tenant).await;
    let delete = |entry_id: &str, at: Option<&str>| {
        let payload = match at {
            Some(at) => json!({"id": "a1", "updated_at": at}),
            None => json!({"id": "a1"}),
        };
        process(entry(entry_id, &tenant, "Account", "delete", "a1", payload))
    };

    send(
        &mut socket,
        account_update("e1", &tenant, "a1", "doomed", "2026-01-01T00:00:00Z"),
    )
    .await;
    recv(&mut socket).await;
    send(&mut socket, delete("e2", Some("2026-01-03T00:00:00Z"))).await;
    assert_eq!(recv(&mut socket).await["outcome"], "applied");
    let tenant_id = TenantId::new(tenant.clone()).unwrap();
    let state = server
        .state
        .store
        .get_state(&tenant_id, "Account", "a1")
        .await
        .unwrap()
        .unwrap();
    assert!(state.deleted, "a tombstone is kept");

    send(
        &mut socket,
        account_update("e3", &tenant, "a1", "zombie", "2026-01-02T00:00:00Z"),
    )
    .await;
    let ack = recv(&mut socket).await;
    assert_eq!(
        ack["outcome"], "superseded",
        "an older update does not resurrect"
    );
    let winner = recv(&mut socket).await;
    assert_eq!(winner["operation_type"], "delete");
    assert_eq!(winner["data"]["single_entity"]["id"], "a1");

    send(&mut socket, delete("e4", None)).await;
    assert_eq!(
        recv(&mut socket).await["type"],
        "sync_ack",
        "deleting twice is acked twice"
    );

    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    send(
        &mut socket,
        account_update("e5", &tenant, "a1", "revived", &now.to_rfc3339()),
    )
    .await;
    assert_eq!(
        recv(&mut socket).await["outcome"],
        "applied",
        "a newer update revives"
    );
    send(
        &mut socket,
        json!({"type": "request_initial_data", "tenant_id": tenant}),
    )
    .await;
    assert_eq!(
        recv(&mut socket).await["payload"]["accounts"][0]["name"],
        "revived"
    );
}

#[tokio::test]
async fn the_initial_load_is_never_truncated() {
    let server = start().await;
    let (user, tenant) = owner(&server, "dora").await;
    let mut socket = connect(&server, &user, &tenant).await;
    for chunk in 0..3 {
        let entries: Vec<Value> = (0..500)
            .map(|n| {
                let id = format!("a{chunk}-{n}");
                entry(
                    &format!("e-{id}"),
                    &tenant,
                    "Account",
                    "create",
                    &id,
                    account(&id, "bulk", "2026-01-01T00:00:00Z"),
                )
            })
            .collect();
        send(
            &mut socket,
            json!({"type": "process_sync_batch", "entries": entries}),
        )
        .await;
        for _ in 0..500 {
            assert_eq!(recv(&mut socket).await["outcome"], "applied");
        }
    }
    send(
        &mut socket,
        json!({"type": "request_initial_data", "tenant_id": tenant}),
    )
    .await;
    let load = recv(&mut socket).await;
    assert_eq!(load["payload"]["accounts"].as_array().unwrap().len(), 1500);
    assert_eq!(
        load["payload"].as_object().unwrap().len(),
        9,
        "all nine collections"
    );
}

#[tokio::test]
async fn tenants_are_isolated_and_connections_need_the_owners_session() {
    let server = start().await;
    let (alice, tenant_a) = owner(&server, "alice").await;
    let (bob, tenant_b) = owner(&server, "bob").await;
    let mut a = connect(&server, &alice, &tenant_a).await;
    let mut b = connect(&server, &bob, &tenant_b).await;

    send(
        &mut b,
        account_update("e1", &tenant_b, "b1", "bob's", "2026-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(recv(&mut b).await["outcome"], "applied");
    silent(&mut a).await;

    send(
        &mut a,
        account_update(
            "e2",
            &tenant_b,
            "b1",
            "alice was here",
            "2026-02-01T00:00:00Z",
        ),
    )
    .await;
    let nack = recv(&mut a).await;
    assert_eq!(
        (&nack["type"], &nack["reason"]),
        (&json!("sync_nack"), &json!("forbidden"))
    );
    let b_id = TenantId::new(tenant_b.clone()).unwrap();
    let stored = server
        .state
        .store
        .get_state(&b_id, "Account", "b1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.data["name"], "bob's", "B's database is unchanged");
    silent(&mut b).await;

    send(
        &mut a,
        json!({"type": "request_initial_data", "tenant_id": tenant_b}),
    )
    .await;
    assert_eq!(recv(&mut a).await["type"], "error");

    assert_eq!(refusal(&server, &tenant_a, None).await, 401, "no session");
    assert_eq!(
        refusal(&server, &tenant_b, Some(&alice.token)).await,
        403,
        "another user's tenant"
    );
    assert_eq!(
        refusal(&server, "not-a-tenant", Some(&alice.token)).await,
        403,
        "an unknown tenant is never created"
    );
    assert!(!server.tenant_db("not-a-tenant").exists());
    let forged = sync_axum::jwt::JwtKeys::from_secret(b"some other secret, thirty-two bytes long")
        .issue(&alice.uuid, &[], Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        refusal(&server, &tenant_a, Some(&forged)).await,
        401,
        "wrongly signed"
    );
    let expired = server
        .state
        .keys
        .issue(&alice.uuid, &[], Duration::ZERO)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        refusal(&server, &tenant_a, Some(&expired)).await,
        401,
        "expired"
    );
    assert_eq!(
        refusal(&server, "..%2Fx", Some(&alice.token)).await,
        400,
        "a path as tenant id"
    );
}

/// Sends a valid change on `socket` and expects it applied: the server still serves it.
async fn still_served(socket: &mut Socket, tenant: &str, n: usize) {
    let entry = account_update(
        &format!("good-{n}"),
        tenant,
        &format!("g{n}"),
        "fine",
        "2026-01-01T00:00:00Z",
    );
    send(socket, entry).await;
    let ack = recv(socket).await;
    assert_eq!(ack["outcome"], "applied", "{ack}");
}

#[tokio::test]
async fn bad_input_is_answered_and_everyone_else_is_still_served() {
    let server = start_with(|config| {
        config.limits.session.wire.max_message_bytes = 64 * 1024;
        config.limits.session.wire.max_batch = 10;
    })
    .await;
    let (user, tenant) = owner(&server, "eve").await;
    let mut bad = connect(&server, &user, &tenant).await;
    let mut good = connect(&server, &user, &tenant).await;

    bad.send(Message::text("{not json")).await.unwrap();
    assert!(
        recv(&mut bad).await["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    still_served(&mut good, &tenant, 0).await;
    recv(&mut bad).await; // the good session's update

    send(&mut bad, json!({"type": "format_disk"})).await;
    assert_eq!(recv(&mut bad).await["original_type"], "format_disk");

    let cases = [
        (
            entry(
                "m1",
                &tenant,
                "Account",
                "create",
                "x1",
                json!({"id": "x1", "name": "no balance etc."}),
            ),
            "validation_error",
        ),
        (
            entry(
                "m2",
                &tenant,
                "Account",
                "create",
                "x2",
                json!({"id": "x2", "name": 42, "balance": "lots"}),
            ),
            "validation_error",
        ),
        (
            entry(
                "m3",
                &tenant,
                "Account",
                "create",
                "x3",
                account("other-id", "x", "2026-01-01T00:00:00Z"),
            ),
            "payload_mismatch",
        ),
        (
            entry("m4", &tenant, "Budget", "create", "x4", json!({"id": "x4"})),
            "unknown_entity",
        ),
        (
            json!({"id": "m5", "tenantId": tenant, "operationType": "create"}),
            "validation_error",
        ),
    ];
    for (n, (entry, reason)) in cases.into_iter().enumerate() {
        send(&mut bad, process(entry)).await;
        let nack = recv(&mut bad).await;
        assert_eq!(
            (&nack["type"], &nack["reason"]),
            (&json!("sync_nack"), &json!(reason)),
            "{nack}"
        );
        for field in [
            "id",
            "entityId",
            "entityType",
            "operationType",
            "detail",
            "retryable",
        ] {
            assert!(nack.get(field).is_some(), "{field} missing in {nack}");
        }
        still_served(&mut good, &tenant, n + 1).await;
        recv(&mut bad).await;
    }

    let too_many: Vec<Value> = (0..11)
        .map(|n| {
            entry(
                &format!("b{n}"),
                &tenant,
                "Account",
                "create",
                &format!("b{n}"),
                account(&format!("b{n}"), "x", "2026-01-01T00:00:00Z"),
            )
        })
        .collect();
    send(
        &mut bad,
        json!({"type": "process_sync_batch", "entries": too_many}),
    )
    .await;
    // Refused whole, with one answer (not a NACK per entry: reply amplification).
    let refusal = recv(&mut bad).await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["original_type"], "process_sync_batch");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .starts_with("too_large"),
        "{refusal}"
    );

    let huge = account_update(
        "big",
        &tenant,
        "big",
        &"x".repeat(100 * 1024),
        "2026-01-01T00:00:00Z",
    );
    let _ = bad.send(Message::text(huge.to_string())).await;
    assert_eq!(close_code(&mut bad).await, CloseCode::Size);
    still_served(&mut good, &tenant, 99).await;
}

#[tokio::test]
async fn deleting_a_tenant_closes_its_sessions() {
    let server = start().await;
    let (user, tenant) = owner(&server, "fred").await;
    let mut socket = connect(&server, &user, &tenant).await;
    let response = user
        .client
        .delete(server.url(&format!("/tenants/{tenant}/complete?user_id={}", user.uuid)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(close_code(&mut socket).await, CloseCode::Policy);
    assert_eq!(refusal(&server, &tenant, Some(&user.token)).await, 403);
}
