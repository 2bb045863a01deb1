//! The real `finwise` binary serving TLS (`--tls-cert`, `--tls-key`) with a self-signed
//! certificate made by the test, and real `sync_client` clients syncing over `wss://`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{Process, spawn};
use finwise::entities::AccountGroup;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use serde_json::{Value, json};
use sync_client::Client;
use sync_client::event::{Changed, Event, Source};
use tokio::sync::broadcast;

const SYNC: Duration = Duration::from_secs(20);

/// A `finwise` process serving HTTPS and WSS with a certificate for `localhost`, and a
/// rustls client configuration trusting that certificate alone.
struct TlsServer {
    _process: Process,
    _dir: tempfile::TempDir,
    port: u16,
    pem: String,
}

impl TlsServer {
    async fn start() -> TlsServer {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
        let args = [
            "--tls-cert".to_owned(),
            cert.to_str().unwrap().to_owned(),
            "--tls-key".to_owned(),
            key.to_str().unwrap().to_owned(),
        ];
        let process = spawn(&args).await;
        let port = process.url.rsplit(':').next().unwrap().parse().unwrap();
        TlsServer {
            _process: process,
            _dir: dir,
            port,
            pem: certified.cert.pem(),
        }
    }

    fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// An HTTPS client trusting the test's certificate, with `localhost` on 127.0.0.1.
    fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .resolve(
                "localhost",
                format!("127.0.0.1:{}", self.port).parse().unwrap(),
            )
            .build()
            .unwrap()
    }

    /// The rustls configuration a sync client needs to trust the test's certificate.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(config)
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Registers and logs in a user over HTTPS and creates a tenant: (token, tenant uuid).
async fn owner(server: &TlsServer) -> (String, String) {
    let http = server.http();
    let user = json_of(
        http.post(server.https("/register"))
            .json(
                &json!({"name": "wss", "email": "wss@example.com", "password": "a long password"}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    let login = json_of(
        http.post(server.https("/login"))
            .json(&json!({"username_or_email": "wss", "password": "a long password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let tenant = json_of(
        http.post(server.https("/tenants"))
            .bearer_auth(&token)
            .json(&json!({"name": "wss household", "user_id": user["uuid"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    (token, tenant["uuid"].as_str().unwrap().to_owned())
}

/// Calls `sync_now` until it succeeds, for at most `within`.
async fn sync(client: &Client, within: Duration) {
    let started = Instant::now();
    loop {
        match client.sync_now(within).await {
            Ok(()) => return,
            Err(_) if started.elapsed() < within => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("no sync within {within:?}: {error}"),
        }
    }
}

/// The next change event for which `wanted` holds, within 10 s.
async fn next_change(
    events: &mut broadcast::Receiver<Event>,
    wanted: impl Fn(&Changed) -> bool,
) -> Changed {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s");
        match event {
            Ok(Event::Changed(changed)) if wanted(&changed) => return changed,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the event channel closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_clients_write_and_receive_over_wss() {
    let server = TlsServer::start().await;
    let (token, tenant) = owner(&server).await;
    let url = format!("wss://localhost:{}/ws_finwise/ws/{{tenant}}", server.port);
    let replicas = tempfile::tempdir().unwrap();
    let replica = |name: &str| {
        Client::builder(url.clone())
            .tenant(tenant.clone())
            .token(token.clone())
            .database(replicas.path().join(format!("{name}.db")))
            .entity::<AccountGroup>()
            .tls_config(server.client_config())
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
            .connect_timeout(Duration::from_secs(5))
            .build()
    };
    let writer = replica("writer").await.unwrap();
    let reader = replica("reader").await.unwrap();
    sync(&writer, SYNC).await;
    sync(&reader, SYNC).await;

    let mut reader_events = reader.events();
    let group = AccountGroup {
        id: "c0ffee00-0000-4000-8000-00000000055a".to_owned(),
        name: "over wss".to_owned(),
        sort_order: 1,
        logo_path: None,
        updated_at: None,
    };
    let stored = writer.put(&group).await.unwrap();
    sync(&writer, SYNC).await;
    assert!(
        writer.outbox().await.unwrap().is_empty(),
        "the server ACKed the change over wss"
    );
    assert_eq!(writer.status().borrow().failed, 0);

    let seen = next_change(&mut reader_events, |changed| changed.entity_id == group.id).await;
    assert_eq!(seen.source, Source::Remote);
    assert_eq!(seen.entity::<AccountGroup>().unwrap(), Some(stored.clone()));
    assert_eq!(
        reader.get::<AccountGroup>(&group.id).await.unwrap(),
        Some(stored)
    );
    sync(&reader, SYNC).await;
    assert_eq!(
        reader.cursor().await.unwrap(),
        writer.cursor().await.unwrap()
    );

    // A client that trusts only the default roots refuses the self-signed certificate.
    let untrusting = Client::builder(url.clone())
        .tenant(tenant.clone())
        .token(token.clone())
        .entity::<AccountGroup>()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let refused = untrusting.sync_now(SYNC).await.unwrap_err();
    assert!(
        matches!(refused, sync_client::Error::Offline(_)),
        "{refused}"
    );
    let reason = untrusting
        .status()
        .borrow()
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    for client in [writer, reader, untrusting] {
        client.close().await.unwrap();
    }
}
