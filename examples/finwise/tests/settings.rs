//! User settings: defaults, saving, last write wins, ownership.

mod common;

use common::{read, start, user};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn get_answers_the_defaults_until_settings_are_saved() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let url = server.url(&format!("/api/v1/user/settings/{}", anna.uuid));
    let (status, settings) = read(anna.client.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["user_id"], anna.uuid.as_str());
    assert_eq!(settings["log_level"], "INFO");
    assert_eq!(
        settings["log_categories"],
        json!(["store", "ui", "service"])
    );
    assert_eq!(settings["history_retention_days"], 60);
    assert!(common::is_rfc3339(&settings["updated_at"]));
}

#[tokio::test]
async fn put_saves_and_get_reads_back() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let url = server.url(&format!("/api/v1/user/settings/{}", anna.uuid));
    let body =
        json!({"log_level": "debug", "log_categories": ["store"], "history_retention_days": 30});
    let (status, saved) = read(anna.client.put(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["log_level"], "DEBUG");
    assert_eq!(saved["log_categories"], json!(["store"]));
    assert_eq!(saved["history_retention_days"], 30);
    let (_, read_back) = read(anna.client.get(&url).send().await.unwrap()).await;
    assert_eq!(read_back, saved);

    // A partial update keeps the other fields.
    let (_, partial) = read(
        anna.client
            .put(&url)
            .json(&json!({"history_retention_days": 90}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(partial["log_level"], "DEBUG");
    assert_eq!(partial["history_retention_days"], 90);
}

#[tokio::test]
async fn an_older_update_changes_nothing() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let url = server.url(&format!("/api/v1/user/settings/{}", anna.uuid));
    let (_, saved) = read(
        anna.client
            .put(&url)
            .json(&json!({"log_level": "ERROR"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let stale = json!({"log_level": "DEBUG", "updated_at": "2020-01-01T00:00:00Z"});
    let (status, answer) = read(anna.client.put(&url).json(&stale).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, saved);
}

#[tokio::test]
async fn invalid_values_get_422() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let url = server.url(&format!("/api/v1/user/settings/{}", anna.uuid));
    for body in [
        json!({"log_level": "LOUD"}),
        json!({"history_retention_days": -1}),
        json!({"log_categories": "ui"}),
    ] {
        let (status, answer) = read(anna.client.put(&url).json(&body).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
}

#[tokio::test]
async fn another_users_settings_are_forbidden() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bert = user(&server, "bert").await;
    let url = server.url(&format!("/api/v1/user/settings/{}", bert.uuid));
    assert_eq!(
        anna.client.get(&url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let response = anna
        .client
        .put(&url)
        .json(&json!({"log_level": "DEBUG"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, settings) = read(bert.client.get(&url).send().await.unwrap()).await;
    assert_eq!(settings["log_level"], "INFO");
}
