//! Credentials: the token provider is asked at every connection attempt and again after a
//! 401; a refusal it cannot fix stops the client with a typed status; an authenticator
//! that cannot check credentials now (503) is retried until it recovers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::request::Parts;
use sync_axum::auth::{Authenticator, Principal, Refusal, request_token};
use sync_axum::{ShutdownHandle, SyncServer};
use sync_client::credentials::Cause;
use sync_client::status::{Connection, Refusal as Refused, Status};
use sync_client::{Client, Error};
use sync_core::TenantId;
use sync_core::store::sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GOOD: &str = "good-token";

/// Admits the token [`GOOD`], refuses every other with 401, and answers 503 while down.
#[derive(Default)]
struct Gate {
    calls: AtomicUsize,
    down: AtomicBool,
}

#[derive(Clone, Default)]
struct GateAuth(Arc<Gate>);

impl Authenticator for GateAuth {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        if self.0.down.load(Ordering::SeqCst) {
            return Err(Refusal::Unavailable("the user database is down".to_owned()));
        }
        match request_token(request, "session").as_deref() {
            Some(GOOD) => Ok(Principal::new("user", tenant.clone()).in_session("login-1")),
            _ => Err(Refusal::Unauthorized("the token has expired".to_owned())),
        }
    }
}

struct Server {
    url: String,
    address: std::net::SocketAddr,
    gate: Arc<Gate>,
    shutdown: ShutdownHandle,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let registry = sync_core::Registry::builder().build().unwrap();
    let store = SqliteStore::builder(dir.path(), registry)
        .open()
        .await
        .unwrap();
    let auth = GateAuth::default();
    let gate = auth.0.clone();
    let server = SyncServer::builder(store, auth).build();
    let shutdown = server.shutdown_handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, server.router()).into_future());
    Server {
        url: format!("ws://{address}/ws"),
        address,
        gate,
        shutdown,
        _dir: dir,
    }
}

/// A client whose provider records each call's cause and answers with `tokens(call)`.
async fn client(
    server: &Server,
    tokens: fn(usize, Cause) -> &'static str,
) -> (Client, Arc<Mutex<Vec<Cause>>>) {
    let causes = Arc::new(Mutex::new(Vec::new()));
    let record = causes.clone();
    let client = Client::builder(&server.url)
        .tenant("household")
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .token_provider(move |cause| {
            let mut causes = record.lock().unwrap();
            let token = tokens(causes.len(), cause);
            causes.push(cause);
            async move { Ok::<_, sync_client::transport::BoxError>(token.to_owned()) }
        })
        .build()
        .await
        .unwrap();
    (client, causes)
}

async fn wait_for(client: &Client, what: impl FnMut(&Status) -> bool) -> Status {
    let mut status = client.status();
    tokio::time::timeout(Duration::from_secs(30), status.wait_for(what))
        .await
        .expect("the status did not come within 30 s")
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_provider_is_asked_at_every_connect_and_renews_after_a_401() {
    let server = start().await;
    // A stale token first; the renewed one (asked for because of the 401) is good.
    let (client, causes) = client(&server, |_, cause| match cause {
        Cause::Refused => GOOD,
        _ => "stale",
    })
    .await;
    wait_for(&client, |status| status.connection == Connection::Online).await;
    assert_eq!(*causes.lock().unwrap(), [Cause::Connect, Cause::Refused]);
    assert_eq!(server.gate.calls.load(Ordering::SeqCst), 2);

    // The server ends the connection: the reconnect asks the provider again.
    server.shutdown.close_login_session("login-1");
    wait_for(&client, |status| status.connection != Connection::Online).await;
    wait_for(&client, |status| status.connection == Connection::Online).await;
    let causes = causes.lock().unwrap().clone();
    assert_eq!(causes.len(), 4, "{causes:?}");
    assert_eq!(
        causes[2],
        Cause::Connect,
        "a stale cached token is tried first"
    );
    assert_eq!(causes[3], Cause::Refused);
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_constant_good_token_connects_at_once() {
    let server = start().await;
    let client = Client::builder(&server.url)
        .tenant("household")
        .token(GOOD)
        .build()
        .await
        .unwrap();
    client.sync_now(Duration::from_secs(30)).await.unwrap();
    assert_eq!(server.gate.calls.load(Ordering::SeqCst), 1);
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_401_the_provider_cannot_fix_stops_the_client_with_a_typed_status() {
    let server = start().await;
    let (client, causes) = client(&server, |_, _| "stale").await;
    let status = wait_for(&client, |status| {
        matches!(status.connection, Connection::Refused(_))
    })
    .await;
    assert_eq!(
        status.connection,
        Connection::Refused(Refused::Unauthorized)
    );
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("the token has expired")),
        "{status:?}"
    );
    assert_eq!(*causes.lock().unwrap(), [Cause::Connect, Cause::Refused]);
    // No more attempts: sync_now answers with the refusal, and the server sees nobody.
    let error = client.sync_now(Duration::from_secs(30)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Refused {
                refusal: Refused::Unauthorized,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(server.gate.calls.load(Ordering::SeqCst), 2);
    assert_eq!(causes.lock().unwrap().len(), 2);
    client.close().await.unwrap();
    assert_eq!(client.status().borrow().connection, Connection::Closed);
}

#[tokio::test]
async fn an_authenticator_outage_is_503_with_retry_after_and_the_client_reconnects() {
    let server = start().await;
    server.gate.down.store(true, Ordering::SeqCst);

    // On the wire: 503 and Retry-After, not 403.
    let mut socket = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    socket
        .write_all(b"GET /ws/household HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    let answer = answer.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 5"), "{answer}");

    let (client, causes) = client(&server, |_, _| GOOD).await;
    // Refused over and over, yet never for good: the client keeps trying.
    let status = wait_for(&client, |status| {
        status
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("503"))
    })
    .await;
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("the user database is down")),
        "{status:?}"
    );
    let before = server.gate.calls.load(Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), async {
        while server.gate.calls.load(Ordering::SeqCst) < before + 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the client stopped retrying");
    assert!(!matches!(
        client.status().borrow().connection,
        Connection::Refused(_) | Connection::Online
    ));
    assert!(
        causes
            .lock()
            .unwrap()
            .iter()
            .all(|cause| *cause == Cause::Connect),
        "a 503 is no reason to renew the token"
    );

    server.gate.down.store(false, Ordering::SeqCst);
    wait_for(&client, |status| status.connection == Connection::Online).await;
    client.close().await.unwrap();
}
