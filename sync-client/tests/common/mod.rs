//! Test support: a real sync server (sync-axum over a SQLite store) on 127.0.0.1 that can
//! be stopped and started again on the same address and data directory, a TCP proxy that
//! can refuse, delay and cut connections (also right before the server's next `sync_ack`,
//! to lose an answer to a committed change), and the entities the tests sync.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a part of the support"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sync_axum::auth::OpenAccess;
use sync_axum::{ShutdownHandle, SyncServer};
use sync_client::Client;
use sync_core::engine;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::store::{Snapshot, Store};
use sync_core::{Registry, Syncable, TenantId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const TENANT: &str = "household";

pub use sync_testkit::entities::{Account, Tag};

pub fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<Tag>()
        .build()
        .unwrap()
}

pub fn tenant() -> TenantId {
    TenantId::new(TENANT).unwrap()
}

/// A running server. Its store stays usable after [`stop`](Server::stop).
pub struct Server {
    pub address: SocketAddr,
    pub store: SqliteStore,
    server: SyncServer<SqliteStore, OpenAccess>,
    shutdown: ShutdownHandle,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts a server of `registry` on a free port, storing under `data_dir`.
    pub async fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, "127.0.0.1:0".parse().unwrap(), registry()).await
    }

    /// Starts a server on `address` (an address a stopped server used), retrying the bind
    /// for a while.
    pub async fn start_at(data_dir: &Path, address: SocketAddr) -> Server {
        Server::start_with(data_dir, address, registry()).await
    }

    pub async fn start_with(data_dir: &Path, address: SocketAddr, registry: Registry) -> Server {
        let store = SqliteStore::builder(data_dir, registry)
            .synchronous(Synchronous::Off)
            .open()
            .await
            .unwrap();
        let engine = engine::Config {
            writer_idle: Duration::from_millis(500),
            ..engine::Config::default()
        };
        let server = SyncServer::builder(store.clone(), OpenAccess)
            .path("/ws/{tenant_id}")
            .engine(engine)
            .build();
        let shutdown = server.shutdown_handle();
        let listener = bind(address).await;
        let address = listener.local_addr().unwrap();
        let router = server.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Server {
            address,
            store,
            server,
            shutdown,
            task,
        }
    }

    /// How many WebSocket connections are open.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// Shuts every session down and stops listening; the address is free afterwards.
    pub async fn stop(&self) {
        self.shutdown.shutdown();
        self.task.abort();
        // Let the sessions send their close frames.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    pub async fn snapshot(&self) -> Snapshot {
        self.store.snapshot(&tenant()).await.unwrap()
    }

    pub async fn cursor(&self) -> u64 {
        self.store.cursor(&tenant()).await.unwrap()
    }
}

/// Binds `address`, with SO_REUSEADDR, retrying while a previous listener lets it go.
pub async fn bind(address: SocketAddr) -> TcpListener {
    let started = Instant::now();
    loop {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        match socket.bind(address).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return listener,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("cannot bind {address}: {error}"),
        }
    }
}

/// An address nothing listens on (yet).
pub async fn free_address() -> SocketAddr {
    let listener = bind("127.0.0.1:0".parse().unwrap()).await;
    listener.local_addr().unwrap()
}

/// A client of `url` on the database file `path`, with test timings.
pub async fn client(url: &str, path: &Path) -> Client {
    builder(url, path).build().await.unwrap()
}

pub fn builder(url: &str, path: &Path) -> sync_client::Builder {
    Client::builder(url)
        .tenant(TENANT)
        .database(path)
        .entity::<Account>()
        .entity::<Tag>()
        .synchronous(Synchronous::Normal)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(3))
        .answer_timeout(Duration::from_secs(10))
}

/// Calls `sync_now` until it succeeds (the server may still be coming up), for at most
/// `within`.
pub async fn sync(client: &Client, within: Duration) {
    let started = Instant::now();
    loop {
        match client.sync_now(Duration::from_secs(30)).await {
            Ok(()) => return,
            Err(_) if started.elapsed() < within => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("no sync within {within:?}: {error}"),
        }
    }
}

/// Waits until `condition` holds, polling, for at most `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The server's rows of `collection`, sorted by id.
pub fn rows(snapshot: &Snapshot, collection: &str) -> Vec<serde_json::Value> {
    let mut rows = snapshot
        .collections
        .get(collection)
        .cloned()
        .unwrap_or_default();
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    rows
}

/// The server's rows of `T`, decoded and encoded again as the client's are, sorted by id.
pub fn server_rows<T: Syncable>(snapshot: &Snapshot) -> Vec<serde_json::Value> {
    rows(snapshot, T::COLLECTION)
        .into_iter()
        .map(|row| serde_json::to_value(serde_json::from_value::<T>(row).unwrap()).unwrap())
        .collect()
}

/// A client's rows of `T`, as JSON, sorted by id.
pub async fn client_rows<T: Syncable>(client: &Client) -> Vec<serde_json::Value> {
    client
        .list::<T>()
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::to_value(row).unwrap())
        .collect()
}

/// Asserts that the server and every client hold exactly the same rows.
pub async fn assert_converged(server: &Server, clients: &[&Client]) {
    let snapshot = server.snapshot().await;
    for (index, client) in clients.iter().enumerate() {
        assert_same(
            &client_rows::<Account>(client).await,
            &server_rows::<Account>(&snapshot),
            &format!("accounts of client {index}"),
        );
        assert_same(
            &client_rows::<Tag>(client).await,
            &server_rows::<Tag>(&snapshot),
            &format!("tags of client {index}"),
        );
    }
}

/// Compares two sorted row lists, reporting the first few differences rather than both
/// lists.
fn assert_same(client: &[serde_json::Value], server: &[serde_json::Value], what: &str) {
    if client == server {
        return;
    }
    let by_id =
        |rows: &[serde_json::Value]| -> std::collections::BTreeMap<String, serde_json::Value> {
            rows.iter()
                .map(|row| {
                    (
                        row["id"].as_str().unwrap_or_default().to_owned(),
                        row.clone(),
                    )
                })
                .collect()
        };
    let (client, server) = (by_id(client), by_id(server));
    let ids: std::collections::BTreeSet<&String> = client.keys().chain(server.keys()).collect();
    let differences: Vec<String> = ids
        .into_iter()
        .filter(|id| client.get(*id) != server.get(*id))
        .take(5)
        .map(|id| {
            format!(
                "{id}: client {:?}, server {:?}",
                client.get(id),
                server.get(id)
            )
        })
        .collect();
    panic!(
        "{what} differ ({} rows on the client, {} on the server); first differences:\n{}",
        client.len(),
        server.len(),
        differences.join("\n")
    );
}

/// A TCP proxy in front of an upstream address: it can refuse new connections, delay
/// them, cut every open one, and cut a connection right before the server's next
/// `sync_ack` reaches the client.
pub struct Proxy {
    pub address: SocketAddr,
    refuse: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    cut: watch::Sender<u64>,
    trap: Arc<AckTrap>,
    task: JoinHandle<()>,
}

/// A one-shot trap for the next `sync_ack` the server sends through the proxy.
struct AckTrap {
    armed: AtomicBool,
    /// How many times the trap fired.
    fired: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let address = listener.local_addr().unwrap();
        let refuse = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (cut, cuts) = watch::channel(0u64);
        let trap = Arc::new(AckTrap {
            armed: AtomicBool::new(false),
            fired: watch::channel(0).0,
        });
        let task = {
            let (refuse, delay_ms, trap) = (refuse.clone(), delay_ms.clone(), trap.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if refuse.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let delay = Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                    let mut cuts = cuts.clone();
                    cuts.mark_unchanged();
                    let (refuse, trap) = (refuse.clone(), trap.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let Ok(outbound) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (mut client_read, mut client_write) = inbound.into_split();
                        let (mut server_read, mut server_write) = outbound.into_split();
                        // Dropping the halves when any of these ends closes both sockets,
                        // without a close frame.
                        tokio::select! {
                            _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
                            _ = forward_from_server(&mut server_read, &mut client_write, &trap, &refuse) => {}
                            _ = cuts.changed() => {}
                        }
                    });
                }
            })
        };
        Proxy {
            address,
            refuse,
            delay_ms,
            cut,
            trap,
            task,
        }
    }

    /// Arms a one-shot trap: the next `sync_ack` frame the server sends is not forwarded;
    /// its connection is cut instead, and new connections are refused until
    /// [`refuse(false)`](Proxy::refuse). The server sends an ACK only after it committed the
    /// change, so the client is left with a committed change whose answer it never got.
    /// The returned future resolves when the trap has fired (it fails after 20 s).
    pub fn cut_at_next_ack(&self) -> impl std::future::Future<Output = ()> + 'static {
        let mut fired = self.trap.fired.subscribe();
        self.trap.armed.store(true, Ordering::SeqCst);
        async move {
            tokio::time::timeout(Duration::from_secs(20), fired.changed())
                .await
                .expect("the server sent a sync_ack within 20 s")
                .expect("the proxy runs");
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// Refuses (accepts and drops) new connections, or lets them through again.
    pub fn refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Holds each new connection this long before connecting it upstream.
    pub fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap(), Ordering::SeqCst);
    }

    /// Drops every open connection at once, without a close frame.
    pub fn cut(&self) {
        self.cut.send_modify(|cuts| *cuts += 1);
    }
}

/// Copies the server's bytes to the client: the HTTP upgrade response, then WebSocket
/// frames one by one, so the trap can stop at the first frame of a `sync_ack`. Server
/// frames are not masked, so their text is readable as it is.
async fn forward_from_server(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    trap: &AckTrap,
    refuse: &AtomicBool,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut upgraded = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = from.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        loop {
            let unit = if upgraded {
                frame_len(&buffer)
            } else {
                let end = buffer.windows(4).position(|window| window == b"\r\n\r\n");
                end.map(|end| end + 4)
            };
            let Some(unit) = unit else { break };
            if upgraded && is_ack(&buffer[..unit]) && trap.armed.swap(false, Ordering::SeqCst) {
                refuse.store(true, Ordering::SeqCst);
                trap.fired.send_modify(|fired| *fired += 1);
                return Ok(());
            }
            to.write_all(&buffer[..unit]).await?;
            buffer.drain(..unit);
            upgraded = true;
        }
    }
}

/// The length of the complete WebSocket frame at the start of `bytes`, if it is all there.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    let second = *bytes.get(1)?;
    let (header, len) = match second & 0x7f {
        126 => (
            4,
            u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
        ),
        127 => (10, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
        len => (2, u64::from(len)),
    };
    let header = header + if second & 0x80 != 0 { 4 } else { 0 };
    let total = header + usize::try_from(len).ok()?;
    (bytes.len() >= total).then_some(total)
}

/// Whether a complete server frame is (the start of) a `sync_ack` text message.
fn is_ack(frame: &[u8]) -> bool {
    let opcode = frame[0] & 0x0f;
    opcode == 0x1
        && frame
            .windows(br#""type":"sync_ack""#.len())
            .any(|window| window == br#""type":"sync_ack""#)
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A temporary directory with a database path helper.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn db(&self, name: &str) -> PathBuf {
        self.0.path().join(format!("{name}.db"))
    }

    pub fn data(&self) -> PathBuf {
        self.0.path().join("server")
    }
}

/// A scripted server: it greets every connection, answers `hello` and `request_changes`
/// (an empty feed), and hands every other message to the test, which answers what and
/// when it likes through [`FakeServer::send`].
pub struct FakeServer {
    pub address: SocketAddr,
    received: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    replies: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
    pub connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl FakeServer {
    pub async fn start() -> FakeServer {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;

        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let address = listener.local_addr().unwrap();
        let (to_test, received) = tokio::sync::mpsc::unbounded_channel();
        let (replies, from_test) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        let from_test = Arc::new(tokio::sync::Mutex::new(from_test));
        let connections = Arc::new(AtomicU64::new(0));
        let task = {
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                        continue;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (to_test, from_test) = (to_test.clone(), from_test.clone());
                    tokio::spawn(async move {
                        let text = |json: serde_json::Value| Message::text(json.to_string());
                        let _ = socket
                            .send(text(
                                serde_json::json!({"type": "status", "status": "online"}),
                            ))
                            .await;
                        let mut from_test = from_test.lock().await;
                        loop {
                            tokio::select! {
                                frame = socket.next() => {
                                    let Some(Ok(Message::Text(frame))) = frame else { break };
                                    let message: serde_json::Value = serde_json::from_str(&frame).unwrap();
                                    let answer = match message["type"].as_str() {
                                        Some("hello") => Some(serde_json::json!({
                                            "type": "welcome", "server_time": sync_core::version::Version::now().as_millis(),
                                            "cursor": 0, "protocol": 1,
                                            "limits": {"max_message_bytes": 1 << 20, "max_batch": 500, "max_page": 10000},
                                        })),
                                        Some("request_changes") => Some(serde_json::json!({
                                            "type": "changes", "changes": [], "cursor": message["since"], "has_more": false, "reset": false,
                                        })),
                                        Some("ping") => None,
                                        _ => {
                                            let _ = to_test.send(message);
                                            None
                                        }
                                    };
                                    if let Some(answer) = answer {
                                        let _ = socket.send(text(answer)).await;
                                    }
                                }
                                reply = from_test.recv() => {
                                    let Some(reply) = reply else { break };
                                    if socket.send(text(reply)).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    });
                }
            })
        };
        FakeServer {
            address,
            received,
            replies,
            connections,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// The next message the client sent (other than hello, request_changes and ping).
    pub async fn next(&mut self) -> serde_json::Value {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("a message within 10 s")
            .expect("the fake server runs")
    }

    /// Sends `message` on the newest connection.
    pub fn send(&self, message: serde_json::Value) {
        self.replies.send(message).unwrap();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TLS-terminating proxy with a self-signed certificate for `localhost`, in front of a
/// plain server: `wss://localhost:<port>/…` reaches the server through it.
#[cfg(feature = "rustls")]
pub struct TlsProxy {
    pub port: u16,
    /// A client configuration that trusts the proxy's certificate.
    pub client_config: Arc<rustls::ClientConfig>,
    task: JoinHandle<()>,
}

#[cfg(feature = "rustls")]
impl TlsProxy {
    pub async fn start(upstream: SocketAddr) -> TlsProxy {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let certificate = certified.cert.der().clone();
        let key =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certificate).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();

        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut inbound) = acceptor.accept(inbound).await else {
                        return;
                    };
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        TlsProxy {
            port,
            client_config: Arc::new(client_config),
            task,
        }
    }
}

#[cfg(feature = "rustls")]
impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
