//! `FinwiseAuthenticator`: which sync connections are admitted.

mod common;

use std::time::Duration;

use common::{create_tenant, start, start_with, user};
use finwise::FinwiseAuthenticator;
use http::request::Parts;
use sync_axum::auth::{Authenticator, Refusal};
use sync_core::TenantId;

fn upgrade(tenant: &str, header: Option<(&str, String)>) -> Parts {
    let mut request = http::Request::get(format!("/ws_finwise/ws/{tenant}"));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.body(()).unwrap().into_parts().0
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

async fn check(
    authenticator: &FinwiseAuthenticator,
    tenant: &str,
    request: Parts,
) -> Result<String, Refusal> {
    let tenant = TenantId::new(tenant).unwrap();
    authenticator
        .authenticate(&request, &tenant)
        .await
        .map(|principal| {
            assert_eq!(principal.tenant, tenant);
            principal.subject
        })
}

#[tokio::test]
async fn the_owner_is_admitted_by_bearer_or_cookie() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    // The tenant is created after login: ownership comes from the database, not the token.
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let authenticator = &server.state.authenticator;
    assert_eq!(
        check(authenticator, id, upgrade(id, bearer(&anna.token)))
            .await
            .unwrap(),
        anna.uuid
    );
    let cookie = Some(("cookie", format!("session={}", anna.token)));
    assert_eq!(
        check(authenticator, id, upgrade(id, cookie)).await.unwrap(),
        anna.uuid
    );
}

#[tokio::test]
async fn another_user_is_forbidden() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let bert = user(&server, "bert").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let refusal = check(
        &server.state.authenticator,
        id,
        upgrade(id, bearer(&bert.token)),
    )
    .await
    .unwrap_err();
    assert!(matches!(refusal, Refusal::Forbidden(_)), "{refusal:?}");
}

#[tokio::test]
async fn an_unknown_tenant_is_forbidden_and_not_created() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let refusal = check(
        &server.state.authenticator,
        "nope",
        upgrade("nope", bearer(&anna.token)),
    )
    .await
    .unwrap_err();
    assert_eq!(refusal, Refusal::Forbidden("unknown tenant".to_owned()));
    assert!(!server.tenant_db("nope").exists());
    assert!(server.state.auth_db.tenant("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn no_token_is_unauthorized() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let refusal = check(&server.state.authenticator, id, upgrade(id, None))
        .await
        .unwrap_err();
    assert!(matches!(refusal, Refusal::Unauthorized(_)), "{refusal:?}");
    let refusal = check(
        &server.state.authenticator,
        id,
        upgrade(id, bearer("garbage")),
    )
    .await
    .unwrap_err();
    assert!(matches!(refusal, Refusal::Unauthorized(_)), "{refusal:?}");
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let claims = sync_axum::jwt::Claims {
        sub: anna.uuid.clone(),
        tenants: Vec::new(),
        exp: 1_000_000_000,
        iat: 999_999_000,
        sid: None,
    };
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(common::SECRET),
    )
    .unwrap();
    let refusal = check(
        &server.state.authenticator,
        id,
        upgrade(id, bearer(&expired)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Unauthorized("the token has expired".to_owned())
    );
}

#[tokio::test]
async fn a_token_of_a_short_lived_session_expires() {
    let server = start_with(|config| config.session_lifetime = Duration::ZERO).await;
    let anna = user(&server, "anna").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = common::bare()
        .get(server.url("/tenants"))
        .bearer_auth(&anna.token)
        .send()
        .await
        .unwrap();
    let (status, answer) = common::read(response).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(answer["detail"], "the token has expired");
}

#[tokio::test]
async fn dev_open_access_admits_without_a_token_but_only_existing_tenants() {
    let server = start_with(|config| config.dev_open_access = true).await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    let authenticator = &server.state.authenticator;
    assert_eq!(
        check(authenticator, id, upgrade(id, None)).await.unwrap(),
        anna.uuid
    );
    let refusal = check(authenticator, "nope", upgrade("nope", None))
        .await
        .unwrap_err();
    assert_eq!(refusal, Refusal::Forbidden("unknown tenant".to_owned()));
}

#[tokio::test]
async fn an_auth_database_outage_is_unavailable_not_forbidden() {
    let server = start().await;
    let anna = user(&server, "anna").await;
    let tenant = create_tenant(&server, &anna, "Haushalt").await;
    let id = tenant["uuid"].as_str().unwrap();
    match server.state.auth_db.pool() {
        finwise::db::Pool::Sqlite(pool) => pool.close().await,
        finwise::db::Pool::Postgres(pool) => pool.close().await,
        _ => unreachable!("a pool this test does not know"),
    }
    let refusal = check(
        &server.state.authenticator,
        id,
        upgrade(id, bearer(&anna.token)),
    )
    .await
    .unwrap_err();
    assert!(matches!(refusal, Refusal::Unavailable(_)), "{refusal:?}");
    assert_eq!(refusal.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(refusal.retry_after().is_some());
}
