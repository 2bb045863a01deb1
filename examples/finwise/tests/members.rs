//! Members of a tenant, end to end over HTTP and WebSockets: the owner shares a tenant
//! with editors and viewers; a viewer receives everything and every write of theirs is
//! NACKed `forbidden`; a removed member is disconnected and refused; only the owner
//! manages members.

mod common;

use common::ws::{
    account, account_update, close_code, connect, entry, process, recv, refusal, send, silent,
};
use common::{Server, User, add_member, create_tenant, read, start, user};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sync_core::TenantId;
use sync_core::store::Store;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const AT: &str = "2026-03-01T10:00:00.000Z";

/// A tenant of `owner`'s; its id.
async fn tenant_of(server: &Server, owner: &User) -> String {
    create_tenant(server, owner, "Haushalt").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn members(server: &Server, caller: &User, tenant: &str) -> (StatusCode, Value) {
    read(
        caller
            .client
            .get(server.url(&format!("/tenants/{tenant}/members")))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn change_role(
    server: &Server,
    caller: &User,
    tenant: &str,
    member: &str,
    role: &str,
) -> (StatusCode, Value) {
    read(
        caller
            .client
            .patch(server.url(&format!("/tenants/{tenant}/members/{member}")))
            .json(&json!({"role": role}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn remove(server: &Server, caller: &User, tenant: &str, member: &str) -> StatusCode {
    caller
        .client
        .delete(server.url(&format!("/tenants/{tenant}/members/{member}")))
        .send()
        .await
        .unwrap()
        .status()
}

async fn tenant_ids(server: &Server, caller: &User) -> Vec<String> {
    let (status, body) = read(
        caller
            .client
            .get(server.url("/tenants"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["uuid"].as_str().unwrap().to_owned())
        .collect()
}

fn roles(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|member| {
            (
                member["name"].as_str().unwrap().to_owned(),
                member["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn the_owner_adds_lists_changes_and_removes_members() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bob = user(&server, "bob").await;
    let carl = user(&server, "carl").await;
    let tenant = tenant_of(&server, &anna).await;
    assert!(tenant_ids(&server, &bob).await.is_empty());

    let (status, added) = add_member(&server, &anna, &tenant, "BOB@example.com", "editor").await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        added,
        json!({"user_id": bob.uuid, "name": "bob", "email": "bob@example.com", "role": "editor"})
    );
    let (status, _) = add_member(&server, &anna, &tenant, "carl@example.com", "viewer").await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, list) = members(&server, &anna, &tenant).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        roles(&list),
        [
            pair("anna", "owner"),
            pair("bob", "editor"),
            pair("carl", "viewer")
        ]
    );
    assert_eq!(list[0]["user_id"], anna.uuid.as_str());
    assert_eq!(list[0]["email"], "anna@example.com");
    assert_eq!(
        tenant_ids(&server, &bob).await,
        std::slice::from_ref(&tenant),
        "a member's list includes shared tenants"
    );

    let (status, changed) = change_role(&server, &anna, &tenant, &carl.uuid, "editor").await;
    assert_eq!(
        (status, &changed["role"]),
        (StatusCode::OK, &json!("editor")),
        "{changed}"
    );
    assert_eq!(
        remove(&server, &anna, &tenant, &bob.uuid).await,
        StatusCode::NO_CONTENT
    );
    let (_, list) = members(&server, &anna, &tenant).await;
    assert_eq!(
        roles(&list),
        [pair("anna", "owner"), pair("carl", "editor")]
    );
    assert!(
        tenant_ids(&server, &bob).await.is_empty(),
        "a removed member no longer lists it"
    );
    assert_eq!(
        remove(&server, &anna, &tenant, &bob.uuid).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_the_owner_manages_members_and_bad_requests_get_clear_errors() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bob = user(&server, "bob").await;
    let eve = user(&server, "eve").await;
    let tenant = tenant_of(&server, &anna).await;
    assert_eq!(
        add_member(&server, &anna, &tenant, "bob@example.com", "editor")
            .await
            .0,
        StatusCode::CREATED
    );

    // An editor and a stranger: 403 on every member endpoint, and nothing changes.
    for intruder in [&bob, &eve] {
        assert_eq!(
            add_member(&server, intruder, &tenant, "eve@example.com", "editor")
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            members(&server, intruder, &tenant).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            change_role(&server, intruder, &tenant, &bob.uuid, "viewer")
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            remove(&server, intruder, &tenant, &bob.uuid).await,
            StatusCode::FORBIDDEN
        );
    }
    // A caller acting for another user is refused too.
    let forged = read(
        eve.client
            .get(server.url(&format!("/tenants/{tenant}/members?user_id={}", anna.uuid)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(forged.0, StatusCode::FORBIDDEN);
    let (_, list) = members(&server, &anna, &tenant).await;
    assert_eq!(roles(&list), [pair("anna", "owner"), pair("bob", "editor")]);

    let anonymous = reqwest::Client::new()
        .get(server.url(&format!("/tenants/{tenant}/members")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    for role in ["owner", "admin", ""] {
        let (status, body) = add_member(&server, &anna, &tenant, "eve@example.com", role).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{role}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("editor"),
            "{body}"
        );
    }
    assert_eq!(
        change_role(&server, &anna, &tenant, &bob.uuid, "owner")
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        add_member(&server, &anna, &tenant, "nobody@example.com", "editor")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        add_member(&server, &anna, &tenant, "anna@example.com", "viewer")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        add_member(&server, &anna, &tenant, "bob@example.com", "viewer")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        change_role(&server, &anna, &tenant, &eve.uuid, "viewer")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        change_role(&server, &anna, &tenant, &anna.uuid, "viewer")
            .await
            .0,
        StatusCode::NOT_FOUND,
        "the owner is no member row"
    );
    assert_eq!(
        members(&server, &anna, "no-such-tenant").await.0,
        StatusCode::NOT_FOUND
    );

    // Members cannot rename or delete the tenant.
    let rename = bob
        .client
        .put(server.url(&format!("/tenants/{tenant}")))
        .json(&json!({"name": "Mine now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rename.status(), StatusCode::FORBIDDEN);
    let delete = bob
        .client
        .delete(server.url(&format!("/tenants/{tenant}/complete")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_viewer_receives_everything_and_every_write_of_theirs_is_nacked_forbidden() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let vera = user(&server, "vera").await;
    let tenant = tenant_of(&server, &anna).await;
    assert_eq!(
        add_member(&server, &anna, &tenant, "vera@example.com", "viewer")
            .await
            .0,
        StatusCode::CREATED
    );

    let mut owner = connect(&server, &anna, &tenant).await;
    send(
        &mut owner,
        process(entry(
            "e1",
            &tenant,
            "Account",
            "create",
            "a1",
            account("a1", "Giro", AT),
        )),
    )
    .await;
    assert_eq!(recv(&mut owner).await["outcome"], "applied");

    // Initial load and catch-up.
    let mut viewer = connect(&server, &vera, &tenant).await;
    send(
        &mut viewer,
        json!({"type": "request_initial_data", "tenant_id": tenant}),
    )
    .await;
    let load = recv(&mut viewer).await;
    assert_eq!(load["event_type"], "initial_data_load", "{load}");
    assert_eq!(load["payload"]["accounts"][0]["name"], "Giro");
    send(
        &mut viewer,
        json!({"type": "request_changes", "since": 0, "limit": 100}),
    )
    .await;
    let changes = recv(&mut viewer).await;
    assert_eq!(
        changes["changes"].as_array().map(Vec::len),
        Some(1),
        "{changes}"
    );

    // Live updates.
    send(
        &mut owner,
        account_update(
            "e2",
            &tenant,
            "a1",
            "Giro renamed",
            "2026-03-02T10:00:00.000Z",
        ),
    )
    .await;
    assert_eq!(recv(&mut owner).await["outcome"], "applied");
    let update = recv(&mut viewer).await;
    assert_eq!(
        (
            &update["event_type"],
            &update["data"]["single_entity"]["name"]
        ),
        (&json!("data_update"), &json!("Giro renamed"))
    );

    // Every write path of the session: single entries of each operation, and a batch.
    let writes = [
        account_update("v1", &tenant, "a1", "hijacked", "2026-03-03T10:00:00.000Z"),
        process(entry(
            "v2",
            &tenant,
            "Account",
            "create",
            "a2",
            account("a2", "new", AT),
        )),
        process(entry(
            "v3",
            &tenant,
            "Account",
            "delete",
            "a1",
            json!({"id": "a1"}),
        )),
    ];
    for write in writes {
        let id = write["payload"]["id"].clone();
        send(&mut viewer, write).await;
        let nack = recv(&mut viewer).await;
        assert_eq!(
            (
                &nack["type"],
                &nack["id"],
                &nack["reason"],
                &nack["retryable"]
            ),
            (&json!("sync_nack"), &id, &json!("forbidden"), &json!(false)),
            "{nack}"
        );
    }
    let batch = vec![
        entry(
            "v4",
            &tenant,
            "Account",
            "update",
            "a1",
            account("a1", "batched", "2026-03-04T10:00:00.000Z"),
        ),
        entry(
            "v5",
            &tenant,
            "Tag",
            "create",
            "t1",
            json!({"id": "t1", "name": "x", "parentTagId": null, "color": null, "icon": null, "updated_at": AT}),
        ),
    ];
    send(
        &mut viewer,
        json!({"type": "process_sync_batch", "entries": batch}),
    )
    .await;
    for id in ["v4", "v5"] {
        let nack = recv(&mut viewer).await;
        assert_eq!(
            (&nack["id"], &nack["reason"]),
            (&json!(id), &json!("forbidden")),
            "{nack}"
        );
    }
    silent(&mut owner).await;

    let store = server.state.store.clone();
    let tenant_id = TenantId::new(tenant.as_str()).unwrap();
    let page = store.changes_since(&tenant_id, 0, 100).await.unwrap();
    assert_eq!(page.changes.len(), 1, "the viewer changed nothing");
    assert_eq!(page.changes[0].data["name"], "Giro renamed");
}

#[tokio::test]
async fn a_removed_member_is_disconnected_and_refused_and_a_new_role_applies_on_reconnect() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bob = user(&server, "bob").await;
    let carl = user(&server, "carl").await;
    let tenant = tenant_of(&server, &anna).await;
    for email in ["bob@example.com", "carl@example.com"] {
        assert_eq!(
            add_member(&server, &anna, &tenant, email, "editor").await.0,
            StatusCode::CREATED
        );
    }
    let mut owner = connect(&server, &anna, &tenant).await;
    let mut editor = connect(&server, &bob, &tenant).await;
    let mut other = connect(&server, &carl, &tenant).await;
    send(
        &mut editor,
        process(entry(
            "b1",
            &tenant,
            "Account",
            "create",
            "a1",
            account("a1", "by bob", AT),
        )),
    )
    .await;
    assert_eq!(
        recv(&mut editor).await["outcome"],
        "applied",
        "an editor writes"
    );
    assert_eq!(
        recv(&mut owner).await["data"]["single_entity"]["name"],
        "by bob"
    );
    assert_eq!(
        recv(&mut other).await["data"]["single_entity"]["name"],
        "by bob"
    );

    // Demoted: the session closes, and the reconnected one is read-only.
    assert_eq!(
        change_role(&server, &anna, &tenant, &bob.uuid, "viewer")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(close_code(&mut editor).await, CloseCode::Policy);
    let mut demoted = connect(&server, &bob, &tenant).await;
    send(
        &mut demoted,
        account_update("b2", &tenant, "a1", "still bob", "2026-03-05T10:00:00.000Z"),
    )
    .await;
    assert_eq!(recv(&mut demoted).await["reason"], "forbidden");

    // Removed: closed, and refused from now on; the others keep their sessions.
    assert_eq!(
        remove(&server, &anna, &tenant, &bob.uuid).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(close_code(&mut demoted).await, CloseCode::Policy);
    assert_eq!(refusal(&server, &tenant, Some(&bob.token)).await, 403);
    send(
        &mut other,
        account_update("c1", &tenant, "a1", "by carl", "2026-03-06T10:00:00.000Z"),
    )
    .await;
    assert_eq!(recv(&mut other).await["outcome"], "applied");
    assert_eq!(
        recv(&mut owner).await["data"]["single_entity"]["name"],
        "by carl"
    );
}
