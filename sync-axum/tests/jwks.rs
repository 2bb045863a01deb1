//! `JwksAuthenticator`: asymmetric tokens of each algorithm verified against a JWKS served
//! on loopback by a tiny axum server; forged, expired, foreign and confused tokens refused;
//! an oversized or slow key set refused as unavailable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sync_axum::auth::{Authenticator, Refusal};
use sync_axum::jwt::{ErrorKind, Jwks, JwksAuthenticator};
use sync_core::TenantId;

const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "sync";

/// A signing key and its public JWK.
struct Signer {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_signer(kid: &str) -> Signer {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    Signer {
        kid: kid.to_owned(),
        algorithm: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())}),
    }
}

fn ec_signer(kid: &str) -> Signer {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = key.public_key_raw();
    assert_eq!(point.len(), 65, "an uncompressed P-256 point");
    Signer {
        kid: kid.to_owned(),
        algorithm: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(&key.serialize_der()),
        jwk: json!({"kty": "EC", "kid": kid, "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..])}),
    }
}

fn ed_signer(kid: &str) -> Signer {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    Signer {
        kid: kid.to_owned(),
        algorithm: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(&key.serialize_der()),
        jwk: json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "alg": "EdDSA",
            "x": b64(key.public_key_raw())}),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600,
        "iat": now(), "roles": {"tenants": "ignored"}, "grants": ["household"]})
}

fn sign(signer: &Signer, claims: &Value) -> String {
    let mut header = Header::new(signer.algorithm);
    header.kid = Some(signer.kid.clone());
    jsonwebtoken::encode(&header, claims, &signer.encoding).unwrap()
}

/// The loopback identity provider: `/jwks` (the current set, counted), `/big`, `/slow`.
struct Provider {
    url: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn provider(keys: &[&Signer]) -> Provider {
    let set = Arc::new(Mutex::new(
        json!({"keys": keys.iter().map(|signer| signer.jwk.clone()).collect::<Vec<_>>()}),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let state = (set.clone(), fetches.clone());
    let app = Router::new()
        .route(
            "/jwks",
            get(
                |State((set, fetches)): State<(Arc<Mutex<Value>>, Arc<AtomicUsize>)>| async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    set.lock().unwrap().to_string()
                },
            ),
        )
        .route(
            "/big",
            get(|| async { format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(200_000)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "{\"keys\":[]}"
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    Provider {
        url: format!("http://{address}"),
        set,
        fetches,
    }
}

fn authenticator(jwks: Jwks) -> JwksAuthenticator {
    JwksAuthenticator::new(jwks)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(5))
        .tenants_claim("grants")
}

async fn check(authenticator: &JwksAuthenticator, token: &str) -> Result<String, Refusal> {
    let request = http::Request::get("/ws/household")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let household = TenantId::new("household").unwrap();
    authenticator
        .authenticate(&request, &household)
        .await
        .map(|principal| principal.subject)
}

fn unauthorized(result: Result<String, Refusal>, why: &str) {
    match result {
        Err(Refusal::Unauthorized(detail)) => assert!(detail.contains(why), "{detail}"),
        other => panic!("expected 401 ({why}), got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_of_each_algorithm_verify_and_forged_ones_do_not() {
    let (rsa, ec, ed) = (rsa_signer("rsa-1"), ec_signer("ec-1"), ed_signer("ed-1"));
    let idp = provider(&[&rsa, &ec, &ed]).await;
    let auth = authenticator(Jwks::from_url(&format!("{}/jwks", idp.url)).unwrap());
    for signer in [&rsa, &ec, &ed] {
        assert_eq!(
            check(&auth, &sign(signer, &claims())).await.unwrap(),
            "user-1",
            "{:?}",
            signer.algorithm
        );
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "the set is cached");

    let mut expired = claims();
    expired["exp"] = json!(now() - 60);
    unauthorized(check(&auth, &sign(&ec, &expired)).await, "expired");
    let mut foreign = claims();
    foreign["aud"] = json!("another-app");
    unauthorized(check(&auth, &sign(&ed, &foreign)).await, "audience");
    let mut foreign = claims();
    foreign["iss"] = json!("https://evil.example");
    unauthorized(check(&auth, &sign(&rsa, &foreign)).await, "issuer");
    let mut other_tenant = claims();
    other_tenant["grants"] = json!(["other"]);
    assert!(matches!(
        check(&auth, &sign(&rsa, &other_tenant)).await,
        Err(Refusal::Forbidden(_))
    ));

    // A key of another signer, under a known kid: the signature does not verify.
    let impostor = Signer {
        kid: "ec-1".to_owned(),
        ..ec_signer("x")
    };
    unauthorized(check(&auth, &sign(&impostor, &claims())).await, "signature");
    // An unknown kid: refused (after one refresh).
    unauthorized(
        check(&auth, &sign(&ec_signer("ec-9"), &claims())).await,
        "unknown",
    );

    // Algorithm confusion: HS256 with the public key as the shared secret.
    for secret in [
        rsa.jwk.to_string(),
        rsa.jwk["n"].as_str().unwrap().to_owned(),
    ] {
        let confused = Signer {
            kid: "rsa-1".to_owned(),
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            jwk: Value::Null,
        };
        unauthorized(check(&auth, &sign(&confused, &claims())).await, "algorithm");
    }
    // An ES256 header on the RSA key's kid: the key's algorithm decides.
    let swapped = Signer {
        kid: "rsa-1".to_owned(),
        ..ec_signer("y")
    };
    unauthorized(check(&auth, &sign(&swapped, &claims())).await, "algorithm");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_unknown_kids_are_rate_limited() {
    let (old, new) = (ec_signer("old"), ed_signer("new"));
    let idp = provider(&[&old]).await;
    let jwks = Jwks::from_url(&format!("{}/jwks", idp.url))
        .unwrap()
        .min_refresh(Duration::ZERO);
    let auth = authenticator(jwks);
    check(&auth, &sign(&old, &claims())).await.unwrap();
    *idp.set.lock().unwrap() = json!({"keys": [old.jwk, new.jwk]});
    check(&auth, &sign(&new, &claims())).await.unwrap();
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // With the default rate limit, a flood of made-up kids causes no fetch at all.
    let limited = authenticator(Jwks::from_url(&format!("{}/jwks", idp.url)).unwrap());
    check(&limited, &sign(&old, &claims())).await.unwrap();
    let before = idp.fetches.load(Ordering::SeqCst);
    for n in 0..20 {
        let forged = sign(&ec_signer(&format!("made-up-{n}")), &claims());
        unauthorized(check(&limited, &forged).await, "unknown");
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn an_oversized_or_slow_key_set_is_refused_as_unavailable() {
    let ec = ec_signer("ec-1");
    let idp = provider(&[&ec]).await;
    let big = Jwks::from_url(&format!("{}/big", idp.url))
        .unwrap()
        .max_bytes(64 * 1024);
    assert_eq!(big.load().await.unwrap_err().kind(), ErrorKind::Fetch);
    let refused = check(&authenticator(big), &sign(&ec, &claims())).await;
    assert!(
        matches!(refused, Err(Refusal::Unavailable(_))),
        "{refused:?}"
    );

    let slow = Jwks::from_url(&format!("{}/slow", idp.url))
        .unwrap()
        .fetch_timeout(Duration::from_millis(200));
    let error = slow.load().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Fetch);
    assert!(error.to_string().contains("did not arrive"), "{error}");
    let refused = check(&authenticator(slow), &sign(&ec, &claims())).await;
    assert!(
        matches!(refused, Err(Refusal::Unavailable(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_key_set_file_works_and_plain_http_must_be_loopback() {
    let ed = ed_signer("ed-1");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, json!({"keys": [ed.jwk]}).to_string()).unwrap();
    let auth = authenticator(Jwks::from_file(&path));
    assert_eq!(check(&auth, &sign(&ed, &claims())).await.unwrap(), "user-1");

    for url in [
        "http://id.example/jwks",
        "ftp://127.0.0.1/jwks",
        "not a url",
    ] {
        let error = Jwks::from_url(url).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{url}");
    }
    assert!(Jwks::from_url("https://id.example/.well-known/jwks.json").is_ok());
    assert!(Jwks::from_url("http://[::1]:8080/jwks").is_ok());
}
