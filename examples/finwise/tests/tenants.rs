//! Tenants: create (with its database), list, rename, delete (with its data), ownership.

mod common;

use std::sync::{Arc, Mutex};

use common::{create_tenant, is_rfc3339, read, start, start_with, user};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn create_answers_the_tenant_object_and_creates_its_database() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let mut keys: Vec<_> = tenant
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["createdAt", "name", "updatedAt", "user_id", "uuid"]);
    assert_eq!(tenant["name"], "Haushalt");
    assert_eq!(tenant["user_id"], anna.uuid.as_str());
    assert!(is_rfc3339(&tenant["createdAt"]) && is_rfc3339(&tenant["updatedAt"]));
    let id = tenant["uuid"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    assert!(
        server.tenant_db(id).exists(),
        "the tenant's database is created"
    );
}

#[tokio::test]
async fn create_takes_a_given_uuid_and_refuses_an_invalid_one() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let id = "6f1c2a4e-8d2b-4c3a-9e5f-0a1b2c3d4e5f";
    let body = json!({"uuid": id, "name": "Mit ID", "user_id": anna.uuid});
    let (status, tenant) = read(
        anna.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["uuid"], id);
    assert!(server.tenant_db(id).exists());

    for bad in [
        "../escape",
        "with space",
        "a.db",
        "auth",
        "AUTH",
        &"x".repeat(65),
    ] {
        let body = json!({"uuid": bad, "name": format!("bad {bad}"), "user_id": anna.uuid});
        let (status, answer) = read(
            anna.client
                .post(server.url("/tenants"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert!(answer["detail"].is_string());
    }

    let body = json!({"uuid": id, "name": "Andere", "user_id": anna.uuid});
    let (status, answer) = read(
        anna.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a taken id: {answer}");
}

#[tokio::test]
async fn a_duplicate_name_is_refused_per_user() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bert = user(&server, "bert").await;
    create_tenant(&server, &anna, "Haushalt").await;
    let body = json!({"name": "Haushalt", "user_id": anna.uuid});
    let (status, answer) = read(
        anna.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("already exists for this user"),
        "{answer}"
    );
    // Another user may use the same name.
    create_tenant(&server, &bert, "Haushalt").await;
}

#[tokio::test]
async fn both_tenants_paths_list_only_the_users_tenants() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bert = user(&server, "bert").await;
    let first = create_tenant(&server, &anna, "Eins").await;
    let second = create_tenant(&server, &anna, "Zwei").await;
    create_tenant(&server, &bert, "Bert").await;
    for path in ["/tenants", "/tenants/"] {
        let url = server.url(&format!("{path}?user_id={}", anna.uuid));
        let (status, list) = read(anna.client.get(url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        // Each with the caller's role in it.
        let owned = |tenant: &Value| {
            let mut tenant = tenant.clone();
            tenant["role"] = json!("owner");
            tenant
        };
        assert_eq!(list, json!([owned(&first), owned(&second)]), "{path}");
        // Without user_id: the caller's.
        let (_, list) = read(anna.client.get(server.url(path)).send().await.unwrap()).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "{path}");
    }
    let body = json!({"name": "Drei", "user_id": anna.uuid});
    let (status, _) = read(
        anna.client
            .post(server.url("/tenants/"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "POST /tenants/");
}

#[tokio::test]
async fn another_users_id_is_forbidden() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bert = user(&server, "bert").await;
    let url = server.url(&format!("/tenants?user_id={}", bert.uuid));
    let (status, answer) = read(anna.client.get(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(answer["detail"].is_string());
    let body = json!({"name": "Fremd", "user_id": bert.uuid});
    let response = anna
        .client
        .post(server.url("/tenants"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_unknown_user_gets_404() {
    // Only the development mode trusts a user_id without a session: a session's user exists.
    let server = start_with(|config| config.dev_open_access = true).await;
    let ghost = uuid::Uuid::new_v4().to_string();
    let body = json!({"name": "Geist", "user_id": ghost});
    let response = reqwest::Client::new()
        .post(server.url("/tenants"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

#[tokio::test]
async fn a_signed_token_of_an_unknown_user_is_refused() {
    let server = start().await;
    // Signed with the server's secret, but no login session of that user exists (its
    // sessions go with a deleted user).
    let ghost = uuid::Uuid::new_v4().to_string();
    let token = server
        .state
        .keys
        .issue(&ghost, &[], std::time::Duration::from_secs(60))
        .unwrap();
    let body = json!({"name": "Geist", "user_id": ghost});
    let response = reqwest::Client::new()
        .post(server.url("/tenants"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
}

#[tokio::test]
async fn rename_changes_the_name_and_refuses_duplicates() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Alt").await;
    create_tenant(&server, &anna, "Belegt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let url = server.url(&format!("/tenants/{id}?user_id={}", anna.uuid));

    let (status, renamed) = read(
        anna.client
            .put(&url)
            .json(&json!({"name": "Neu"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Neu");
    assert_eq!(renamed["uuid"], id);
    assert_eq!(renamed["createdAt"], tenant["createdAt"]);

    let (status, answer) = read(
        anna.client
            .put(&url)
            .json(&json!({"name": "Belegt"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("already exists for this user")
    );

    // Renaming to its own name is fine.
    let (status, _) = read(
        anna.client
            .put(&url)
            .json(&json!({"name": "Neu"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let missing = server.url(&format!(
        "/tenants/{}?user_id={}",
        uuid::Uuid::new_v4(),
        anna.uuid
    ));
    let (status, _) = read(
        anna.client
            .put(missing)
            .json(&json!({"name": "X"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn renaming_or_deleting_another_users_tenant_is_forbidden() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bert = user(&server, "bert").await;
    let tenant = create_tenant(&server, &bert, "Bert").await;
    let id = tenant["uuid"].as_str().unwrap();

    // With anna's own user_id, or none: the tenant is not hers.
    for query in [format!("?user_id={}", anna.uuid), String::new()] {
        let url = server.url(&format!("/tenants/{id}{query}"));
        let (status, _) = read(
            anna.client
                .put(&url)
                .json(&json!({"name": "Meins"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "rename {query}");
        let url = server.url(&format!("/tenants/{id}/complete{query}"));
        let (status, _) = read(anna.client.delete(&url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "delete {query}");
    }
    // With bert's user_id: anna may not act for him.
    let url = server.url(&format!("/tenants/{id}/complete?user_id={}", bert.uuid));
    assert_eq!(
        anna.client.delete(&url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    assert!(server.tenant_db(id).exists());
    assert_eq!(
        server.state.auth_db.tenant(id).await.unwrap().unwrap().name,
        "Bert"
    );
}

#[tokio::test]
async fn delete_removes_the_tenant_and_its_data_after_the_hooks() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Weg").await;
    let id = tenant["uuid"].as_str().unwrap().to_owned();

    let seen = Arc::new(Mutex::new(Vec::new()));
    let (record, database) = (seen.clone(), server.tenant_db(&id));
    let auth_db = server.state.auth_db.clone();
    server.state.tenant_deleted.register(move |tenant| {
        let (record, database, auth_db) = (record.clone(), database.clone(), auth_db.clone());
        async move {
            // The record is gone (no new sessions), the data not yet.
            let still_recorded = auth_db.tenant(tenant.as_str()).await.unwrap().is_some();
            record
                .lock()
                .unwrap()
                .push((tenant.to_string(), still_recorded, database.exists()));
        }
    });

    let url = server.url(&format!("/tenants/{id}/complete?user_id={}", anna.uuid));
    let (status, deleted) = read(anna.client.delete(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, tenant);
    assert_eq!(*seen.lock().unwrap(), [(id.clone(), false, true)]);
    assert!(
        !server.tenant_db(&id).exists(),
        "the tenant's database is deleted"
    );
    let (_, list) = read(
        anna.client
            .get(server.url("/tenants"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list, json!([]));

    let (status, _) = read(anna.client.delete(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a second delete");
}

#[tokio::test]
async fn an_orphaned_database_is_not_inherited() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let id = "a-reused-id";
    std::fs::write(server.tenant_db(id), b"someone else's data").unwrap();
    let body = json!({"uuid": id, "name": "Neu", "user_id": anna.uuid});
    let (status, answer) = read(
        anna.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_ne!(
        std::fs::read(server.tenant_db(id)).unwrap(),
        b"someone else's data"
    );
}

#[tokio::test]
async fn an_empty_name_is_refused() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let body = json!({"name": "  ", "user_id": anna.uuid});
    let (status, _) = read(
        anna.client
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
