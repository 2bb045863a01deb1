//! Register, login, the session cookie, bearer tokens and logout, over a real socket.

mod common;

use common::{bare, browser, is_rfc3339, read, register, start};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_answers_201_with_the_user_object() {
    let server = start().await;
    let user = register(&server, &bare(), "anna").await;
    let object = user.as_object().unwrap();
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["createdAt", "email", "name", "updatedAt", "uuid"]);
    assert_eq!(user["name"], "anna");
    assert_eq!(user["email"], "anna@example.com");
    assert!(uuid::Uuid::parse_str(user["uuid"].as_str().unwrap()).is_ok());
    assert!(
        is_rfc3339(&user["createdAt"]) && is_rfc3339(&user["updatedAt"]),
        "{user}"
    );
}

#[tokio::test]
async fn register_refuses_taken_emails_and_names_ignoring_case() {
    let server = start().await;
    register(&server, &bare(), "anna").await;
    let cases = [
        (
            json!({"name": "other", "email": "ANNA@example.com", "password": "x"}),
            "Email already registered",
        ),
        (
            json!({"name": "Anna", "email": "new@example.com", "password": "x"}),
            "Username already taken",
        ),
        // Both taken: the email is reported.
        (
            json!({"name": "anna", "email": "anna@example.com", "password": "x"}),
            "Email already registered",
        ),
    ];
    for (body, detail) in cases {
        let (status, answer) = read(
            bare()
                .post(server.url("/register"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer, json!({"detail": detail}));
    }
}

#[tokio::test]
async fn register_answers_422_for_a_bad_email_or_missing_fields() {
    let server = start().await;
    for body in [
        json!({"name": "bob", "email": "not-an-email", "password": "x"}),
        json!({"name": "bob", "email": "bob@", "password": "x"}),
        json!({"name": "bob", "password": "x"}),
        json!({"name": " ", "email": "bob@example.com", "password": "x"}),
    ] {
        let (status, answer) = read(
            bare()
                .post(server.url("/register"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {answer}"
        );
        assert!(answer["detail"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn login_matches_email_then_name_ignoring_case() {
    let server = start().await;
    let registered = register(&server, &bare(), "Carla").await;
    for login in ["carla@example.com", "CARLA@EXAMPLE.COM", "carla", "CaRlA"] {
        let body = json!({"username_or_email": login, "password": "secret-Carla"});
        let (status, answer) = read(
            bare()
                .post(server.url("/login"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{login}: {answer}");
        assert_eq!(answer["uuid"], registered["uuid"]);
        assert_eq!(answer["name"], "Carla");
        assert!(
            answer["access_token"]
                .as_str()
                .is_some_and(|token| token.split('.').count() == 3)
        );
    }
}

#[tokio::test]
async fn login_refuses_a_wrong_password_or_unknown_user_with_401() {
    let server = start().await;
    register(&server, &bare(), "dora").await;
    for (login, password) in [
        ("dora", "wrong"),
        ("dora@example.com", "SECRET-dora"),
        ("nobody", "secret-dora"),
    ] {
        let body = json!({"username_or_email": login, "password": password});
        let response = bare()
            .post(server.url("/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("set-cookie").is_none());
        let (status, answer) = read(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer, json!({"detail": "Incorrect username or password"}));
    }
}

#[tokio::test]
async fn login_sets_an_http_only_same_site_strict_session_cookie() {
    let server = start().await;
    register(&server, &bare(), "emil").await;
    let body = json!({"username_or_email": "emil", "password": "secret-emil"});
    let response = bare()
        .post(server.url("/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let (_, answer) = read(response).await;
    let token = answer["access_token"].as_str().unwrap();
    assert!(cookie.starts_with(&format!("session={token};")), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    assert!(!cookie.contains("Secure"), "not configured: {cookie}");
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let server = common::start_with(|config| config.secure_cookie = true).await;
    register(&server, &bare(), "emil").await;
    let body = json!({"username_or_email": "emil", "password": "secret-emil"});
    let response = bare()
        .post(server.url("/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn the_cookie_alone_authenticates() {
    let server = start().await;
    let client = browser();
    let user = register(&server, &client, "fritz").await;
    common::login(&server, &client, "fritz").await;
    let (status, tenants) = read(client.get(server.url("/tenants")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tenants}");
    assert_eq!(tenants, json!([]));
    let url = server.url(&format!(
        "/tenants?user_id={}",
        user["uuid"].as_str().unwrap()
    ));
    assert_eq!(
        client.get(url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_bearer_token_alone_authenticates() {
    let server = start().await;
    register(&server, &bare(), "gina").await;
    let token = common::login(&server, &bare(), "gina").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = bare()
        .get(server.url("/tenants"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_or_bad_credentials_get_401_with_a_detail() {
    let server = start().await;
    let user = common::user(&server, "hans").await;
    let other_keys = sync_axum::jwt::JwtKeys::from_secret(b"another secret of at least 32 bytes!!");
    let forged = other_keys
        .issue(&user.uuid, &[], std::time::Duration::from_secs(60))
        .unwrap();
    let settings = format!("/api/v1/user/settings/{}", user.uuid);
    for path in ["/tenants", "/tenants/", settings.as_str()] {
        let response = bare().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, answer) = read(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer, json!({"detail": "Not authenticated"}));

        for token in ["garbage", forged.as_str()] {
            let (status, answer) = read(
                bare()
                    .get(server.url(path))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert!(answer["detail"].is_string(), "{answer}");
        }
    }
    let body = json!({"name": "x", "user_id": user.uuid});
    let response = bare()
        .post(server.url("/tenants"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_removes_the_cookie() {
    let server = start().await;
    let user = common::user(&server, "ida").await;
    let response = user
        .client
        .post(server.url("/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("session=;"), "{cookie}");
    assert_eq!(
        user.client
            .get(server.url("/tenants"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn existing_2a_and_2b_hashes_log_in() {
    let server = start().await;
    let user = register(&server, &bare(), "jan").await;
    let uuid = user["uuid"].as_str().unwrap();
    // OpenBSD's bcrypt test vector for the password "U*U", as $2a$ and $2b$.
    for stored in [
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    ] {
        assert!(
            server
                .state
                .auth_db
                .set_password_hash(uuid, stored)
                .await
                .unwrap()
        );
        let body = json!({"username_or_email": "jan", "password": "U*U"});
        let (status, answer) = read(
            bare()
                .post(server.url("/login"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{stored}: {answer}");
        let body = json!({"username_or_email": "jan", "password": "U*V"});
        assert_eq!(
            bare()
                .post(server.url("/login"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn malformed_json_gets_a_detail() {
    let server = start().await;
    let response = bare()
        .post(server.url("/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["detail"].is_string(), "{answer}");
}
