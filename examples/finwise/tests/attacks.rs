//! The server tried as an attacker would: a stolen token after logout, another site's page
//! opening the sync socket with its visitor's cookie, passwords bcrypt would truncate; and
//! the frontend's own paths and headers (a reload on `/login`, a cross-origin preflight).

mod common;

use common::ws::{self, Socket};
use common::{bare, create_tenant, read, start, start_with, user};
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Opens the sync socket of `tenant` with `headers` (name, value); the socket or the status
/// of the refusal.
async fn upgrade(
    server: &common::Server,
    tenant: &str,
    headers: &[(&'static str, String)],
) -> Result<Socket, u16> {
    let address = server.url.trim_start_matches("http://");
    let mut request = format!("ws://{address}/ws_finwise/ws/{tenant}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("neither a socket nor a refusal: {other}"),
    }
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn cookie(token: &str) -> (&'static str, String) {
    ("cookie", format!("session={token}"))
}

fn origin(origin: &str) -> (&'static str, String) {
    ("origin", origin.to_owned())
}

#[tokio::test]
async fn after_logout_the_token_opens_nothing_and_its_open_sessions_are_closed() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    // The same user on a second device: a login session of its own.
    let phone = common::login(&server, &bare(), "anna").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut open = upgrade(&server, id, &[bearer(&anna.token)]).await.unwrap();
    assert_eq!(ws::recv(&mut open).await["status"], "online");
    let mut phone_socket = upgrade(&server, id, &[bearer(&phone)]).await.unwrap();
    assert_eq!(ws::recv(&mut phone_socket).await["status"], "online");

    // The attacker holds a copy of the token; its owner logs out with it.
    let response = bare()
        .post(server.url("/logout"))
        .bearer_auth(&anna.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The open session of that token is closed, with a reason.
    match tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match futures::StreamExt::next(&mut open).await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 10 s")
    {
        Some(frame) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "logged out");
        }
        None => panic!("a close frame without a code"),
    }
    // Neither a new upgrade nor the REST API accepts it, by bearer or by cookie.
    assert_eq!(
        upgrade(&server, id, &[bearer(&anna.token)]).await.err(),
        Some(401)
    );
    assert_eq!(
        upgrade(&server, id, &[cookie(&anna.token)]).await.err(),
        Some(401)
    );
    for request in [
        bare().get(server.url("/tenants")).bearer_auth(&anna.token),
        bare()
            .get(server.url("/tenants"))
            .header("cookie", format!("session={}", anna.token)),
    ] {
        let (status, answer) = read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["detail"], "the session has ended; log in again");
    }

    // The other device's session is untouched.
    ws::send(&mut phone_socket, json!({"type": "ping"})).await;
    assert_eq!(ws::recv(&mut phone_socket).await["type"], "pong");
    assert_eq!(tenants_status(&server, &phone).await, StatusCode::OK);
}

#[tokio::test]
async fn a_cookie_logout_revokes_the_cookie_token_too() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    // The browser logs out by its cookie; a copy of the cookie's token is dead afterwards.
    let response = anna
        .client
        .post(server.url("/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        tenants_status(&server, &anna.token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_token_without_a_login_session_is_refused() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    // Correctly signed, unexpired, but naming no session (or a made-up one).
    let sessionless = server
        .state
        .keys
        .issue(&anna.uuid, &[], std::time::Duration::from_secs(600))
        .unwrap();
    let forged = server
        .state
        .keys
        .sign(&sync_axum::jwt::Claims {
            sub: anna.uuid.clone(),
            tenants: Vec::new(),
            exp: u64::MAX / 2,
            iat: 0,
            sid: Some(uuid::Uuid::new_v4().to_string()),
        })
        .unwrap();
    for token in [sessionless, forged] {
        assert_eq!(
            upgrade(&server, id, &[bearer(&token)]).await.err(),
            Some(401)
        );
        assert_eq!(
            tenants_status(&server, &token).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn another_sites_page_cannot_open_the_socket_with_the_victims_cookie() {
    let server =
        start_with(|config| config.cors_origins = vec!["http://localhost:5173/".to_owned()]).await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let own = server.url.clone();

    // A page of evil.example, visited by anna: the browser adds her cookie and its Origin.
    for foreign in [
        "https://evil.example",
        "null",
        "http://localhost:5174",
        "http://127.0.0.1.evil.example",
    ] {
        assert_eq!(
            upgrade(&server, id, &[cookie(&anna.token), origin(foreign)])
                .await
                .err(),
            Some(403),
            "{foreign}"
        );
    }
    // The server's own pages, the configured --cors-origin, and clients that are not a
    // browser (no Origin) or send the token themselves (bearer, whatever the Origin).
    let admitted: [&[(&'static str, String)]; 4] = [
        &[cookie(&anna.token), origin(&own)],
        &[cookie(&anna.token), origin("http://localhost:5173")],
        &[cookie(&anna.token)],
        &[bearer(&anna.token), origin("https://evil.example")],
    ];
    for headers in admitted {
        let mut socket = upgrade(&server, id, headers)
            .await
            .unwrap_or_else(|status| panic!("{headers:?}: {status}"));
        assert_eq!(ws::recv(&mut socket).await["status"], "online");
    }
}

#[tokio::test]
async fn passwords_over_72_bytes_are_refused_and_cannot_log_in() {
    let server = start().await;
    let long = "p".repeat(73);
    let (status, answer) = read(
        bare()
            .post(server.url("/register"))
            .json(&json!({"name": "max", "email": "max@example.com", "password": long}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("72 bytes"),
        "{answer}"
    );

    // 72 bytes register; the same 72 bytes with anything after them do not log in.
    let exact = "p".repeat(72);
    let (status, _) = read(
        bare()
            .post(server.url("/register"))
            .json(&json!({"name": "max", "email": "max@example.com", "password": exact}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for (password, expected) in [
        (exact.clone(), StatusCode::OK),
        (format!("{exact}a"), StatusCode::UNAUTHORIZED),
        (format!("{exact}b"), StatusCode::UNAUTHORIZED),
    ] {
        let (status, _) = read(
            bare()
                .post(server.url("/login"))
                .json(&json!({"username_or_email": "max", "password": password}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, expected, "{} bytes", password.len());
    }
}

#[tokio::test]
async fn reloading_login_or_register_serves_the_frontend_with_a_static_dir() {
    let frontend = tempfile::tempdir().unwrap();
    std::fs::write(
        frontend.path().join("index.html"),
        "<!doctype html><title>FinWise</title>",
    )
    .unwrap();
    let dir = frontend.path().to_owned();
    let server = start_with(move |config| config.static_dir = Some(dir)).await;
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for path in ["/login", "/register"] {
        let response = bare()
            .get(server.url(path))
            .header("accept", html)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(
            response.text().await.unwrap(),
            "<!doctype html><title>FinWise</title>"
        );
        // A GET that does not ask for HTML is still not an API call.
        let response = bare()
            .get(server.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    // The API behind the same path still works.
    let (status, _) = read(
        bare()
            .post(server.url("/register"))
            .json(&json!({"name": "ida", "email": "ida@example.com", "password": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Without a frontend there is no page to serve.
    let plain = start().await;
    let response = bare()
        .get(plain.url("/login"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_cors_preflight_allows_the_frontends_headers() {
    let server =
        start_with(|config| config.cors_origins = vec!["http://localhost:5173".to_owned()]).await;
    let response = bare()
        .request(reqwest::Method::OPTIONS, server.url("/tenants"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization,x-user-id,x-tenant-id",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["content-type", "authorization", "x-user-id", "x-tenant-id"] {
        assert!(allowed.contains(header), "{header} not in {allowed}");
    }
    // Another origin gets no permission.
    let response = bare()
        .request(reqwest::Method::OPTIONS, server.url("/tenants"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// The status of `GET /tenants` with `token`: the REST API's answer to that token.
async fn tenants_status(server: &common::Server, token: &str) -> StatusCode {
    let response = bare()
        .get(server.url("/tenants"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    read(response).await.0
}
