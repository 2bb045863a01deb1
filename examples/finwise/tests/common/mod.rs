//! A FinWise server on 127.0.0.1:0 in a fresh data directory, and a client for it.
#![allow(dead_code, reason = "each test file uses a different part")]

pub(crate) mod process;
pub(crate) mod ws;

use std::net::SocketAddr;

use finwise::{AppState, Config};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

/// The secret the test servers sign with.
pub(crate) const SECRET: &[u8] = b"test secret, at least thirty-two bytes long";

/// A running server; dropped with the test's runtime.
pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) state: AppState,
    pub(crate) dir: tempfile::TempDir,
    /// With `FINWISE_TEST_BACKEND=postgres`, the schema the server's data is in.
    pub(crate) schema: Option<PgSchema>,
}

/// Something serving the FinWise API: an in-process [`Server`], or the base URL of a server
/// process (`http://127.0.0.1:PORT`).
pub(crate) trait Endpoint {
    /// `http://host:port`, without a trailing slash.
    fn base(&self) -> &str;

    /// The URL of `path` on this server.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
}

impl Endpoint for Server {
    fn base(&self) -> &str {
        &self.url
    }
}

impl Endpoint for String {
    fn base(&self) -> &str {
        self
    }
}

impl Server {
    /// The URL of `path` on this server (also [`Endpoint::url`], here without the import).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The path of a tenant's sync database.
    pub(crate) fn tenant_db(&self, tenant: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{tenant}.db"))
    }
}

/// A server with the default configuration (and a cheap bcrypt cost).
pub(crate) async fn start() -> Server {
    start_with(|_| {}).await
}

/// A server whose configuration `adjust` changes.
///
/// By default its data is in SQLite under a fresh data directory. With the environment
/// variable `FINWISE_TEST_BACKEND=postgres` it is in a fresh schema of the test PostgreSQL
/// server instead, so the HTTP and auth suites run on both backends:
/// `FINWISE_TEST_BACKEND=postgres cargo test -p finwise --test users --test settings`.
pub(crate) async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.jwt_secret = Some(SECRET.to_vec());
    config.bcrypt_cost = 4;
    let schema = match std::env::var("FINWISE_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => None,
        Ok("postgres") => {
            let schema = PgSchema::create().await;
            config.database_url = Some(schema.url.clone());
            config.database_schema = Some(schema.name.clone());
            config.database_max_connections = 2;
            Some(schema)
        }
        Ok(other) => panic!("FINWISE_TEST_BACKEND={other:?}: use sqlite or postgres"),
    };
    adjust(&mut config);
    let (router, state) = finwise::app(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        url: format!("http://{address}"),
        state,
        dir,
        schema,
    }
}

/// A client that keeps cookies, like a browser.
pub(crate) fn browser() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// A client that keeps no cookies.
pub(crate) fn bare() -> Client {
    Client::new()
}

/// Reads a response's status and JSON body.
pub(crate) async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Registers `name` with `name@example.com` and password `secret-{name}`; the new user.
pub(crate) async fn register(server: &impl Endpoint, client: &Client, name: &str) -> Value {
    let response = client
        .post(server.url("/register"))
        .json(&json!({"name": name, "email": format!("{name}@example.com"), "password": format!("secret-{name}")}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Logs `name` in (as registered by [`register`]); the login response.
pub(crate) async fn login(server: &impl Endpoint, client: &Client, name: &str) -> Value {
    let response = client
        .post(server.url("/login"))
        .json(&json!({"username_or_email": name, "password": format!("secret-{name}")}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A registered and logged-in user: their browser (holding the cookie), uuid and token.
pub(crate) struct User {
    pub(crate) client: Client,
    pub(crate) uuid: String,
    pub(crate) token: String,
}

pub(crate) async fn user(server: &impl Endpoint, name: &str) -> User {
    let client = browser();
    let uuid = register(server, &client, name).await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = login(server, &client, name).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    User {
        client,
        uuid,
        token,
    }
}

/// Creates a tenant named `name` for `user`; the tenant.
pub(crate) async fn create_tenant(server: &impl Endpoint, user: &User, name: &str) -> Value {
    let response = user
        .client
        .post(server.url("/tenants"))
        .json(&json!({"name": name, "user_id": user.uuid}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `caller` shares `tenant` with the user of `email` in `role` (`POST /tenants/{id}/members`);
/// the answer.
pub(crate) async fn add_member(
    server: &impl Endpoint,
    caller: &User,
    tenant: &str,
    email: &str,
    role: &str,
) -> (StatusCode, Value) {
    read(
        caller
            .client
            .post(server.url(&format!("/tenants/{tenant}/members")))
            .json(&json!({"email": email, "role": role}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Whether `text` is an RFC 3339 time.
pub(crate) fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| chrono::DateTime::parse_from_rfc3339(text).is_ok())
}

/// The PostgreSQL server the tests use: `SYNC_TEST_DATABASE_URL`, by default the local one.
pub(crate) fn database_url() -> String {
    std::env::var("SYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh schema of its own on the test PostgreSQL server, and a small pool whose
/// connections use it. Call [`PgSchema::drop`] at the end of the test.
pub(crate) struct PgSchema {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) pool: sqlx::PgPool,
}

impl PgSchema {
    /// Creates `finwise_test_<random>`; fails the test, naming the URL, when PostgreSQL
    /// cannot be reached.
    pub(crate) async fn create() -> PgSchema {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let url = database_url();
        let name = format!("finwise_test_{}", uuid::Uuid::new_v4().simple());
        let unreachable = |error: sqlx::Error| -> ! {
            panic!(
                "PostgreSQL at {url} is unreachable ({error}); start it (e.g. .ci/run) or set \
                 SYNC_TEST_DATABASE_URL"
            )
        };
        let options: PgConnectOptions = url.parse().unwrap_or_else(|error| unreachable(error));
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .unwrap_or_else(|error| unreachable(error));
        sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.options([("search_path", name.as_str())]))
            .await
            .unwrap_or_else(|error| unreachable(error));
        PgSchema { url, name, pool }
    }
}

impl Drop for PgSchema {
    /// Drops the schema with everything in it, on a connection of its own (from a thread of
    /// its own, since the test's runtime may be the one dropping it), giving up after 5 s
    /// of waiting for locks.
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection as _;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut connection = sqlx::PgConnection::connect(&url).await?;
                sqlx::raw_sql(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                ))
                .execute(&mut connection)
                .await?;
                connection.close().await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("cannot drop the test schema {}: {error}", self.name);
        }
    }
}
