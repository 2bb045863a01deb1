//! Two server nodes on one database, sessions over channels, a cuttable TCP proxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::{Value, json};
use sync_core::bus::{Bus, Event, Notice, NoticeKind};
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::session::{self, Inbound, Outbound, Session};
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::store::{AnyStore, Store};
use sync_core::{Registry, TenantId};
use tokio::sync::watch;

pub(crate) use sync_testkit::entities::Account;

/// The store both nodes share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One SQLite directory: clones of one `SqliteStore` share its databases.
    Sqlite,
    /// One PostgreSQL schema, fresh per test: each node opens its own `PostgresStore`.
    #[cfg(feature = "postgres")]
    Postgres,
}

/// Nodes A and B: their own engines and hubs, one database.
pub(crate) struct Cluster {
    _dir: tempfile::TempDir,
    schema: Option<String>,
    pub(crate) store: AnyStore,
    pub(crate) a: Node,
    pub(crate) b: Node,
}

pub(crate) struct Node {
    pub(crate) engine: Engine<AnyStore>,
    shutdown: watch::Sender<bool>,
}

impl Cluster {
    /// `check` is the periodic safety net; a long one proves the bus delivered.
    pub(crate) async fn new(
        backend: Backend,
        bus_a: Arc<dyn Bus>,
        bus_b: Arc<dyn Bus>,
        check: Duration,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let registry = || Registry::builder().entity::<Account>().build().unwrap();
        let (store_a, store_b, schema): (AnyStore, AnyStore, _) = match backend {
            Backend::Sqlite => {
                let store = SqliteStore::builder(dir.path(), registry())
                    .synchronous(Synchronous::Off)
                    .open()
                    .await
                    .unwrap();
                (store.clone().into(), store.into(), None)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let schema = unique("sync_test");
                let a = postgres_store(registry(), &schema).await;
                let b = postgres_store(registry(), &schema).await;
                (a.into(), b.into(), Some(schema))
            }
        };
        let config = engine::Config {
            bus_check: check,
            ..engine::Config::default()
        };
        let node = |store, bus| Node {
            engine: Engine::with_bus(store, Hub::new(4096), config.clone(), bus),
            shutdown: watch::channel(false).0,
        };
        let store = store_a.clone();
        let (a, b) = (node(store_a, bus_a), node(store_b, bus_b));
        Cluster {
            _dir: dir,
            schema,
            store,
            a,
            b,
        }
    }

    /// Every seq of the tenant's feed, in order.
    pub(crate) async fn feed(&self, tenant: &str) -> Vec<u64> {
        let tenant = TenantId::new(tenant).unwrap();
        let page = self.store.changes_since(&tenant, 0, 10_000).await.unwrap();
        assert!(!page.has_more);
        page.changes.iter().map(|change| change.seq).collect()
    }

    /// Drops the PostgreSQL schema, if there is one.
    pub(crate) async fn close(self) {
        #[cfg(feature = "postgres")]
        if let (Some(schema), AnyStore::Postgres(store)) = (&self.schema, &self.store) {
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            if let Err(error) = sqlx::query(&drop).execute(store.pool()).await {
                eprintln!("could not drop test schema {schema}: {error}");
            }
        }
        let _ = &self.schema;
    }
}

/// A PostgreSQL store in `schema`, with a small pool; an unreachable server fails the test.
#[cfg(feature = "postgres")]
async fn postgres_store(
    registry: Registry,
    schema: &str,
) -> sync_core::store::postgres::PostgresStore {
    let url = database_url();
    sync_core::store::postgres::PostgresStore::builder(&url, registry)
        .schema(schema)
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap_or_else(|error| {
            panic!("PostgreSQL at {url} is unreachable ({error}); start it or set SYNC_TEST_DATABASE_URL")
        })
}

#[cfg(feature = "postgres")]
pub(crate) use sync_testkit::database_url;

impl Node {
    pub(crate) async fn connect(&self, tenant: &str) -> Client {
        self.connect_as(tenant, "tester").await
    }

    /// A session of `subject` in `tenant`.
    pub(crate) async fn connect_as(&self, tenant: &str, subject: &str) -> Client {
        let (to_session, inbound) = mpsc::channel(64);
        let (outbound, from_session) = mpsc::channel(100_000);
        let session = Session::new(
            self.engine.clone(),
            TenantId::new(tenant).unwrap(),
            subject,
            session::Config::default(),
            self.shutdown.subscribe(),
        );
        tokio::spawn(session.run(inbound, outbound));
        let mut client = Client {
            to_session,
            from_session,
            updates: Vec::new(),
        };
        assert_eq!(
            client.recv().await,
            json!({"type": "status", "status": "online"})
        );
        // A round trip: once answered, the session is subscribed and delivery is set up.
        client.send(json!({"type": "ping", "timestamp": 0})).await;
        assert_eq!(client.recv().await["type"], "pong");
        client
    }
}

pub(crate) struct Client {
    to_session: mpsc::Sender<Inbound>,
    from_session: mpsc::Receiver<Outbound>,
    /// The cursors of the `data_update`s received, in order.
    pub(crate) updates: Vec<u64>,
}

impl Client {
    pub(crate) async fn send(&mut self, message: Value) {
        self.to_session
            .send(Inbound::Text(message.to_string()))
            .await
            .unwrap();
    }

    async fn next(&mut self, wait: Duration) -> Option<Outbound> {
        tokio::time::timeout(wait, self.from_session.next())
            .await
            .ok()
            .map(|frame| frame.expect("the session is still open"))
    }

    /// The next message that is not a ping or a `data_update` (those are recorded).
    pub(crate) async fn recv(&mut self) -> Value {
        loop {
            let frame = self
                .next(Duration::from_secs(10))
                .await
                .expect("the session answers within 10 s");
            if let Some(json) = self.record(frame) {
                return json;
            }
        }
    }

    fn record(&mut self, frame: Outbound) -> Option<Value> {
        match frame {
            Outbound::Text(text) => {
                let json: Value = serde_json::from_str(&text).unwrap();
                if json["type"] == "ping" {
                    None
                } else if json["event_type"] == "data_update" {
                    self.updates.push(json["cursor"].as_u64().unwrap());
                    None
                } else {
                    Some(json)
                }
            }
            Outbound::Close { code, reason } => panic!("closed {code}: {reason}"),
        }
    }

    /// Writes account `id` and returns the seq of its ACK.
    pub(crate) async fn write(&mut self, entry_id: &str, id: &str, name: &str) -> u64 {
        self.send(json!({
            "type": "process_sync_entry",
            "payload": {
                "id": entry_id, "tenantId": "t", "entityType": "Account", "entityId": id,
                "operationType": "update",
                "payload": {"id": id, "name": name, "balance": 1.0, "updated_at": Utc::now().to_rfc3339()},
                "timestamp": 1, "status": "pending", "attempts": 0,
            }
        }))
        .await;
        let ack = self.recv().await;
        assert_eq!(ack["type"], "sync_ack", "{ack}");
        assert_eq!(ack["outcome"], "applied", "{ack}");
        ack["seq"].as_u64().unwrap()
    }

    /// Waits until `updates` holds `count` entries (or `wait` passes), then a short silence.
    pub(crate) async fn collect(&mut self, count: usize, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while self.updates.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.next(left).await else {
                break;
            };
            if let Some(json) = self.record(frame) {
                panic!("unexpected {json}");
            }
        }
        while let Some(frame) = self.next(Duration::from_millis(200)).await {
            if let Some(json) = self.record(frame) {
                panic!("unexpected {json}");
            }
        }
    }

    /// The next message, unrecorded: a `data_update` expected within 10 s.
    pub(crate) async fn data_update(&mut self) -> Value {
        let frame = self
            .next(Duration::from_secs(10))
            .await
            .expect("a data_update within 10 s");
        match frame {
            Outbound::Text(text) => serde_json::from_str(&text).unwrap(),
            Outbound::Close { code, reason } => panic!("closed {code}: {reason}"),
        }
    }

    /// The close code the session ends with.
    pub(crate) async fn closed(&mut self) -> u16 {
        loop {
            match self.next(Duration::from_secs(10)).await {
                Some(Outbound::Close { code, .. }) => return code,
                Some(Outbound::Text(_)) => {}
                None => panic!("the session did not close within 10 s"),
            }
        }
    }

    /// Nothing arrives for a while.
    pub(crate) async fn silent(&mut self, wait: Duration) {
        if let Some(frame) = self.next(wait).await {
            panic!("expected silence, got {frame:?}");
        }
    }
}

/// A bus that drops every notice while `dropping` is set: the gaps a real bus makes.
pub(crate) struct Lossy {
    pub(crate) inner: Arc<dyn Bus>,
    pub(crate) dropping: AtomicBool,
}

impl Lossy {
    pub(crate) fn new(inner: Arc<dyn Bus>) -> Arc<Lossy> {
        Arc::new(Lossy {
            inner,
            dropping: AtomicBool::new(false),
        })
    }
}

impl Bus for Lossy {
    fn send<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, sync_core::Result<()>> {
        if self.dropping.load(Ordering::SeqCst) {
            assert!(
                notices
                    .iter()
                    .all(|notice| matches!(notice.kind, NoticeKind::Committed { .. }))
            );
            return futures::future::ready(Ok(())).boxed();
        }
        self.inner.send(notices)
    }

    fn listen(&self) -> BoxFuture<'_, sync_core::Result<BoxStream<'static, Event>>> {
        self.inner.listen()
    }
}

#[cfg(any(feature = "nats", feature = "postgres"))]
pub(crate) use sync_testkit::{proxy::Proxy, unique};
