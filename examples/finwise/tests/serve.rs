//! Health endpoints, CORS, the static frontend, unknown paths and the development mode.

mod common;

use axum::body::Body;
use common::{bare, read, start, start_with, user};
use http::Request;
use reqwest::StatusCode;
use serde_json::json;
use tower::ServiceExt;

#[tokio::test]
async fn ping_and_health_need_no_session() {
    let server = start().await;
    let (status, ping) = read(bare().get(server.url("/ping")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ping["status"], "online");
    assert!(ping["message"].is_string());

    let (status, health) = read(bare().get(server.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "healthy");

    let (status, websocket) = read(
        bare()
            .get(server.url("/api/v1/websocket/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(websocket["overall_health"], "healthy");
}

#[tokio::test]
async fn the_router_answers_without_a_socket_too() {
    let dir = tempfile::tempdir().unwrap();
    let (router, _state) = finwise::app(finwise::Config::new(dir.path()))
        .await
        .unwrap();
    let response = router
        .oneshot(Request::get("/ping").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    assert!(dir.path().join("auth.db").exists());
    assert!(
        dir.path().join("jwt-secret").exists(),
        "a secret is generated when none is given"
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let server = start().await;
    let (status, answer) = read(
        bare()
            .get(server.url("/nothing/here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer, json!({"detail": "Not Found"}));
}

#[tokio::test]
async fn cors_allows_configured_origins_with_credentials_only() {
    let server =
        start_with(|config| config.cors_origins = vec!["http://localhost:5173".to_owned()]).await;
    let preflight = |origin: &'static str| {
        bare()
            .request(reqwest::Method::OPTIONS, server.url("/tenants"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.unwrap();
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let refused = preflight("http://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let simple = bare()
        .get(server.url("/ping"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn a_wildcard_cors_origin_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = finwise::Config::new(dir.path());
    config.cors_origins = vec!["*".to_owned()];
    let error = finwise::app(config).await.unwrap_err();
    assert!(error.to_string().contains("credentials"), "{error}");
}

#[tokio::test]
async fn the_static_frontend_is_served_with_spa_fallback() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>FinWise</title>",
    )
    .unwrap();
    std::fs::create_dir(site.path().join("assets")).unwrap();
    std::fs::write(site.path().join("assets/app.js"), "console.log('finwise')").unwrap();
    let root = site.path().to_path_buf();
    let server = start_with(move |config| config.static_dir = Some(root)).await;

    let index = bare().get(server.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(index.text().await.unwrap().contains("FinWise"));

    let script = bare()
        .get(server.url("/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );

    let route = bare()
        .get(server.url("/accounts/123"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        route.status(),
        StatusCode::OK,
        "client-side routes get index.html"
    );
    assert!(route.text().await.unwrap().contains("FinWise"));

    // The API still answers.
    let (status, ping) = read(bare().get(server.url("/ping")).send().await.unwrap()).await;
    assert_eq!(
        (status, ping["status"].as_str()),
        (StatusCode::OK, Some("online"))
    );
}

#[tokio::test]
async fn dev_open_access_trusts_user_id_without_a_session() {
    let server = start_with(|config| config.dev_open_access = true).await;
    let anna = user(&server, "anna").await;
    let body = json!({"name": "Offen", "user_id": anna.uuid});
    let (status, tenant) = read(
        bare()
            .post(server.url("/tenants"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    let url = server.url(&format!("/tenants?user_id={}", anna.uuid));
    let (status, list) = read(bare().get(url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let mut owned = tenant.clone();
    owned["role"] = json!("owner");
    assert_eq!(list, json!([owned]));
    // Without a user_id there is nobody to act for.
    let (status, _) = read(bare().get(server.url("/tenants")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
