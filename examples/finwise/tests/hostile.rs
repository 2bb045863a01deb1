//! The real `finwise` binary under hostile load, each case asserting that an honest client
//! keeps working: slowloris and idle sockets under a 1,024-file limit, many tenants under
//! the same limit, a client that never reads what its tenant broadcasts, and TLS.

mod common;

use std::time::Duration;

use common::process::{Process, spawn, spawn_with_fd_limit};
use common::ws::{connect, entry, process, recv, send};
use common::{Endpoint, User, create_tenant, user};
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, value)| [(*flag).to_owned(), (*value).to_owned()])
        .collect()
}

async fn owner(server: &impl Endpoint, name: &str) -> (User, String) {
    let user = user(server, name).await;
    let tenant = create_tenant(server, &user, &format!("{name}'s household")).await;
    (user, tenant["uuid"].as_str().unwrap().to_owned())
}

/// Writes one account group to `tenant` over a fresh session and asserts its ACK.
async fn write_and_ack(server: &impl Endpoint, user: &User, tenant: &str, id: &str) {
    let mut socket = connect(server, user, tenant).await;
    let payload = json!({"id": id, "name": id, "sortOrder": 0, "image": null, "updated_at": "2026-01-01T10:00:00.000Z"});
    send(
        &mut socket,
        process(entry(
            &format!("e-{id}"),
            tenant,
            "AccountGroup",
            "create",
            id,
            payload,
        )),
    )
    .await;
    let ack = recv(&mut socket).await;
    assert_eq!(ack["type"], "sync_ack", "{ack}");
}

/// What a connection gets within `wait`: `Some(bytes read)` when the server closed it
/// (after answering or not), `None` when it is still open.
async fn closed_within(mut stream: TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buffer = [0_u8; 512];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().map(|()| got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_sockets_cannot_lock_out_an_honest_client() {
    let server = spawn_with_fd_limit(
        1024,
        &args(&[
            ("--header-read-timeout-secs", "2"),
            ("--first-message-timeout-secs", "2"),
        ]),
    )
    .await;
    let (honest, tenant) = owner(&server, "honest").await;
    let mut session = connect(&server, &honest, &tenant).await;
    // Its first message, within the first-message timeout.
    send(&mut session, json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(recv(&mut session).await["type"], "pong");
    let address = server.base().trim_start_matches("http://").to_owned();

    // 1,100 attackers: half send a partial request head and stop, half never send a byte.
    let mut attackers = Vec::new();
    for n in 0..1100 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        if n % 2 == 0 {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        attackers.push(stream);
    }
    // Every one is closed: those beyond the budget at once with 503, the rest by the
    // header-read timeout.
    let outcomes = futures::future::join_all(
        attackers
            .into_iter()
            .map(|stream| closed_within(stream, Duration::from_secs(20))),
    )
    .await;
    let still_open = outcomes.iter().filter(|outcome| outcome.is_none()).count();
    let refused = outcomes
        .iter()
        .flatten()
        .filter(|got| got.starts_with(b"HTTP/1.1 503"))
        .count();
    assert_eq!(still_open, 0, "attackers still connected after 20 s");
    assert!(
        refused > 0,
        "the budget (480 at 1,024 files) refused none of 1,100"
    );

    // The session opened before the attack still gets ACKs, and new clients get in.
    let payload = json!({"id": "g1", "name": "g1", "sortOrder": 0, "image": null, "updated_at": "2026-01-01T10:00:00.000Z"});
    send(
        &mut session,
        process(entry(
            "e-g1",
            &tenant,
            "AccountGroup",
            "create",
            "g1",
            payload,
        )),
    )
    .await;
    assert_eq!(recv(&mut session).await["type"], "sync_ack");
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    write_and_ack(&server, &honest, &tenant, "g2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_and_a_silent_session_are_closed() {
    let server = spawn(&args(&[
        ("--header-read-timeout-secs", "1"),
        ("--first-message-timeout-secs", "1"),
    ]))
    .await;
    let address = server.base().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = closed_within(stream, Duration::from_secs(10))
        .await
        .expect("the idle keep-alive connection is closed");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // A session that upgrades and says nothing is closed after the first-message timeout.
    let (user, tenant) = owner(&server, "quiet").await;
    let mut socket = connect(&server, &user, &tenant).await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        while let Some(Ok(frame)) = socket.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the silent session is still open after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_1024_files_300_tenants_are_created_and_used_without_a_500() {
    let server: Process = spawn_with_fd_limit(1024, &[]).await;
    let user = user(&server, "many").await;
    for n in 0..300 {
        let tenant = create_tenant(&server, &user, &format!("household {n}")).await;
        let tenant = tenant["uuid"].as_str().unwrap().to_owned();
        write_and_ack(&server, &user, &tenant, &format!("g{n}")).await;
    }
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_and_wss_on_one_port_with_a_secure_cookie() {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let server = spawn(&args(&[
        ("--tls-cert", cert.to_str().unwrap()),
        ("--tls-key", key.to_str().unwrap()),
    ]))
    .await;
    let port = server.base().rsplit(':').next().unwrap().to_owned();
    let base = format!("https://localhost:{port}");
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Plain HTTP on the TLS port gets nothing.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_err()
    );
    let body = json!({"name": "tls", "email": "tls@example.com", "password": "a long password"});
    let registered = client
        .post(format!("{base}/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success());
    let uuid = registered.json::<serde_json::Value>().await.unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = client
        .post(format!("{base}/login"))
        .json(&json!({"username_or_email": "tls", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    let token = login.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // WSS on the same port, trusting only the test's certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(certified.cert.pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tenant = client
        .post(format!("{base}/tenants"))
        .bearer_auth(&token)
        .json(&json!({"name": "tls household", "user_id": uuid}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("wss://localhost:{port}/ws_finwise/ws/{tenant}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let stream = TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let connector = tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(config));
    let (mut socket, _) =
        tokio_tungstenite::client_async_tls_with_config(request, stream, None, Some(connector))
            .await
            .unwrap();
    use futures::StreamExt;
    let online = socket.next().await.unwrap().unwrap();
    let online: serde_json::Value = serde_json::from_str(online.to_text().unwrap()).unwrap();
    assert_eq!(
        online,
        serde_json::json!({"type": "status", "status": "online"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_beyond_the_files_get_503_with_retry_after_and_open_ones_keep_working() {
    // The open-tenant bound set far above what 256 files allow: tenant databases open until
    // the process runs out of descriptors.
    let server = spawn_with_fd_limit(256, &args(&[("--max-open-tenants", "10000")])).await;
    let (honest, tenant) = owner(&server, "honest").await;
    let mut session = connect(&server, &honest, &tenant).await;
    send(&mut session, json!({"type": "ping", "timestamp": 1})).await;
    assert_eq!(recv(&mut session).await["type"], "pong");

    let user = user(&server, "greedy").await;
    let mut created = 0;
    let mut refused = 0;
    for n in 0..400 {
        let response = user
            .client
            .post(server.url("/tenants"))
            .json(&json!({"name": format!("household {n}"), "user_id": user.uuid}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let retry_after = response.headers().get("retry-after").cloned();
        let body = response.text().await.unwrap();
        match status.as_u16() {
            200 => created += 1,
            503 => {
                let seconds = retry_after.expect("a 503 carries Retry-After");
                assert!(seconds.to_str().unwrap().parse::<u32>().unwrap() > 0);
                refused += 1;
                if refused == 20 {
                    break;
                }
            }
            other => panic!("tenant {n}: {other} {body} ({created} created before)"),
        }
    }
    assert!(
        refused > 0,
        "256 files held {created} tenants and refused none"
    );

    // The session opened before still gets ACKs, and the server still answers.
    let payload = json!({"id": "g1", "name": "g1", "sortOrder": 0, "image": null, "updated_at": "2026-01-01T10:00:00.000Z"});
    send(
        &mut session,
        process(entry(
            "e-g1",
            &tenant,
            "AccountGroup",
            "create",
            "g1",
            payload,
        )),
    )
    .await;
    assert_eq!(recv(&mut session).await["type"], "sync_ack");
    let health = honest
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// The WebSocket upgrade stage has no timeout of its own because none is needed: the
/// request head is under the header read timeout, the handler (authentication included)
/// under the request timeout, and the first-message timeout starts the moment the server
/// has sent its 101. A client that sends a whole upgrade request and then neither reads
/// the 101 nor sends a frame is closed by that timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_upgrades_and_then_neither_reads_nor_writes_is_closed() {
    let server = spawn(&args(&[("--first-message-timeout-secs", "1")])).await;
    let (user, tenant) = owner(&server, "upgrader").await;
    let address = server.base().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /ws_finwise/ws/{tenant} HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer {}\r\n\r\n",
        user.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Reads nothing for a while (the 101 waits in the socket), then everything until EOF.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = closed_within(stream, Duration::from_secs(10))
        .await
        .expect("the upgraded connection is closed by the first-message timeout");
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

/// The server process's resident memory, in KiB.
fn resident_kib(server: &Process) -> u64 {
    let pid = server.child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_off_with_its_memory_released_and_the_writer_keeps_going()
{
    let server = spawn(&args(&[
        ("--outbound-queue-bytes", "262144"),
        ("--send-timeout-secs", "2"),
    ]))
    .await;
    let (user, tenant) = owner(&server, "flood").await;
    let mut writer = connect(&server, &user, &tenant).await;
    let mut never_reads = connect(&server, &user, &tenant).await;
    let before = resident_kib(&server);

    // 600 broadcasts of ~100 KB each (60 MB) to a session whose client reads nothing.
    let note = "x".repeat(100_000);
    for n in 0..600 {
        let at = format!("2026-01-01T10:{:02}:{:02}.000Z", n / 60, n % 60);
        let mut payload = common::ws::account("a1", &format!("v{n}"), &at);
        payload["note"] = json!(note);
        send(
            &mut writer,
            process(entry(
                &format!("e{n}"),
                &tenant,
                "Account",
                "update",
                "a1",
                payload,
            )),
        )
        .await;
        let ack = recv(&mut writer).await;
        assert_eq!(
            ack["type"], "sync_ack",
            "the writer keeps getting ACKs: {ack}"
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let grown = resident_kib(&server).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "the server holds {grown} KiB more after 60 MB of broadcasts to a client that reads nothing"
    );

    // What reached the socket before the cut, then the end: a close 1013 when it still fit
    // in the socket, else the connection dropped. The client reconnects and catches up.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match never_reads.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the connection of the client that reads nothing ends");
    assert!(matches!(ended, None | Some(1013)), "closed with {ended:?}");
    let mut back = connect(&server, &user, &tenant).await;
    send(
        &mut back,
        json!({"type": "request_changes", "since": 0, "limit": 10}),
    )
    .await;
    let page = recv(&mut back).await;
    assert_eq!(
        page["changes"][0]["data"]["name"], "v599",
        "{}",
        page["cursor"]
    );
}
