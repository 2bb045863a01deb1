//! Streamed initial loads and `changes` pages: byte-identical to the tree-built encoding, and
//! bounded by the engine's snapshot slots.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_core::change::Change;
use sync_core::engine::{self, Engine, LoadError};
use sync_core::hub::Hub;
use sync_core::protocol::{Frame, Reply, ServerMessage, initial_data_load};
use sync_core::session::{self, Inbound, Outbound, Session};
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::store::{Collect, Snapshot, Store};
use sync_core::{Registry, Syncable, TenantId};
use tokio::sync::watch;

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    name: String,
    balance: f64,
    note: Option<String>,
    is_active: bool,
    sort_order: i32,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AccountGroup")]
struct AccountGroup {
    #[sync(id)]
    id: String,
    name: String,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

/// Registered first, listed last: the frame orders collections by name, not registration.
#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Zone", table = "zones")]
struct Zone {
    #[sync(id)]
    id: String,
    label: String,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

fn registry() -> Registry {
    Registry::builder()
        .entity::<Zone>()
        .entity::<Account>()
        .entity::<AccountGroup>()
        .build()
        .unwrap()
}

fn at(n: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(1_767_225_600_000 + n)
}

async fn sqlite(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::builder(dir.path(), registry())
        .synchronous(Synchronous::Off)
        .open()
        .await
        .unwrap()
}

/// Rows in every collection, awkward text, nulls, and tombstones (deleted live rows and a
/// delete of an id never seen).
async fn fill(store: &impl Store, tenant: &TenantId) {
    let mut changes = Vec::new();
    for n in 0..40 {
        changes.push(
            Change::upsert(&Account {
                id: format!("a{n:02}"),
                name: format!("Konto \"{n}\" ü \u{1F600} \\ \n"),
                balance: n as f64 * -1.25 + 0.1,
                note: (n % 3 == 0).then(|| "<note>".to_owned()),
                is_active: n % 2 == 0,
                sort_order: n,
                updated_at: at(i64::from(n)),
            })
            .unwrap(),
        );
    }
    for n in 0..5 {
        changes.push(
            Change::upsert(&AccountGroup {
                id: format!("g{n}"),
                name: format!("Group {n}"),
                updated_at: at(100 + n),
            })
            .unwrap(),
        );
    }
    changes.push(
        Change::upsert(&Zone {
            id: "z1".to_owned(),
            label: "north".to_owned(),
            updated_at: at(200),
        })
        .unwrap(),
    );
    store.apply(tenant, &changes).await.unwrap();
    let deletes = vec![
        Change::delete("Account", "a03"),
        Change::delete("Account", "a17"),
        Change::delete("AccountGroup", "g4"),
        Change::delete("Zone", "never-stored"),
    ];
    store.apply(tenant, &deletes).await.unwrap();
}

/// The message built in memory, then encoded.
fn built(tenant: &TenantId, snapshot: Snapshot) -> String {
    initial_data_load(tenant, snapshot).to_text()
}

fn engine<S: Store>(store: S, config: engine::Config) -> Engine<S> {
    Engine::new(store, Hub::new(64), config)
}

#[tokio::test]
async fn streamed_initial_load_is_byte_identical_to_the_built_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let tenant = TenantId::new("household").unwrap();
    fill(&store, &tenant).await;

    let snapshot = store.snapshot(&tenant).await.unwrap();
    assert_eq!(snapshot.collections["accounts"].len(), 38);
    assert_eq!(snapshot.collections["account_groups"].len(), 4);
    assert_eq!(snapshot.cursor, 50);
    let expected = built(&tenant, snapshot.clone());

    let frame = engine(store.clone(), engine::Config::default())
        .initial_load(&tenant)
        .await
        .unwrap();
    assert_eq!(&**frame.text(), expected);
    let parsed: Value = serde_json::from_str(frame.text()).unwrap();
    assert_eq!(parsed["event_type"], "initial_data_load");
    assert_eq!(parsed["cursor"], 50);
    let collections: Vec<&String> = parsed["payload"].as_object().unwrap().keys().collect();
    assert_eq!(collections, ["account_groups", "accounts", "zones"]);

    let mut collected = Collect::default();
    store
        .stream_snapshot(&tenant, &mut collected)
        .await
        .unwrap();
    assert_eq!(collected.into_snapshot(), snapshot);
}

#[tokio::test]
async fn the_default_stream_gives_the_same_frame() {
    let dir = tempfile::tempdir().unwrap();
    let store = Gated::new(sqlite(&dir).await);
    let tenant = TenantId::new("household").unwrap();
    fill(&store, &tenant).await;
    let expected = built(&tenant, store.snapshot(&tenant).await.unwrap());
    let frame = engine(store, engine::Config::default())
        .initial_load(&tenant)
        .await
        .unwrap();
    assert_eq!(&**frame.text(), expected);
}

#[tokio::test]
async fn an_empty_tenant_lists_every_collection_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let tenant = TenantId::new("empty").unwrap();
    let frame = engine(store.clone(), engine::Config::default())
        .initial_load(&tenant)
        .await
        .unwrap();
    assert_eq!(
        &**frame.text(),
        r#"{"event_type":"initial_data_load","tenant_id":"empty","cursor":0,"payload":{"account_groups":[],"accounts":[],"zones":[]}}"#
    );
    assert_eq!(
        &**frame.text(),
        built(&tenant, store.snapshot(&tenant).await.unwrap())
    );
}

#[tokio::test]
async fn changes_pages_decode_as_they_were_built() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let tenant = TenantId::new("household").unwrap();
    fill(&store, &tenant).await;
    for (cursor, limit) in [(0, 10), (0, 10_000), (44, 3), (50, 10)] {
        let page = store.changes_since(&tenant, cursor, limit).await.unwrap();
        let count = page.changes.len();
        let message = ServerMessage::Changes(page.into());
        let ServerMessage::Changes(decoded) = ServerMessage::decode(&message.to_text()).unwrap()
        else {
            panic!("not a changes message")
        };
        assert_eq!(decoded.changes.len(), count, "from {cursor}");
        assert_eq!(ServerMessage::Changes(decoded), message, "from {cursor}");
    }
    let tombstones = store.changes_since(&tenant, 46, 10).await.unwrap();
    assert!(tombstones.changes.iter().all(|change| change.deleted));
    let text = ServerMessage::Changes(tombstones.into()).to_text();
    assert!(text.contains(r#""operation_type":"delete""#), "{text}");
    let reset = ServerMessage::Changes(store.changes_since(&tenant, 99, 10).await.unwrap().into());
    assert_eq!(
        reset.to_text(),
        r#"{"type":"changes","changes":[],"cursor":0,"has_more":false,"reset":true}"#
    );
}

#[tokio::test]
async fn an_encoded_message_is_sent_as_it_is() {
    let frame: Arc<str> = Arc::from(r#"{"a":1}"#);
    let reply = Reply::Encoded(Frame::new(frame.clone()));
    assert!(Arc::ptr_eq(&reply.to_frame(), &frame));
}

#[tokio::test]
async fn loads_beyond_the_bound_wait_for_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Gated::snapshots_held(sqlite(&dir).await);
    let gate = store.clone();
    let tenant = TenantId::new("household").unwrap();
    fill(&store, &tenant).await;
    let engine = engine(
        store,
        engine::Config {
            max_snapshots: 2,
            snapshot_wait: Duration::from_secs(30),
            ..engine::Config::default()
        },
    );

    let loads: Vec<_> = (0..6)
        .map(|_| {
            let (engine, tenant) = (engine.clone(), tenant.clone());
            // Only the text leaves the task: the frame, and its slot, drop in it.
            tokio::spawn(async move {
                let frame = engine.initial_load(&tenant).await?;
                Ok::<_, LoadError>(frame.text().clone())
            })
        })
        .collect();
    wait_until(|| gate.snapshots_active() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(gate.snapshots_active(), 2, "only two loads read at once");
    assert_eq!(engine.free_snapshot_slots(), 0);

    gate.release_snapshots(7); // the six loads and one more below
    // A frame keeps its slot until it is dropped: the loads finish two at a time.
    let mut texts = Vec::new();
    for load in loads {
        texts.push(load.await.unwrap().unwrap());
    }
    assert_eq!(gate.snapshots_peak(), 2);
    assert!(texts.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(engine.free_snapshot_slots(), 2, "every slot is returned");

    let held = engine.initial_load(&tenant).await.unwrap();
    let clone = held.clone();
    assert_eq!(engine.free_snapshot_slots(), 1, "the frame holds its slot");
    drop(held);
    assert_eq!(engine.free_snapshot_slots(), 1, "a clone still holds it");
    drop(clone);
    assert_eq!(engine.free_snapshot_slots(), 2);
}

#[tokio::test]
async fn a_load_that_waits_too_long_gets_a_retryable_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Gated::snapshots_held(sqlite(&dir).await);
    let gate = store.clone();
    let tenant = TenantId::new("household").unwrap();
    let engine = engine(
        store,
        engine::Config {
            max_snapshots: 1,
            snapshot_wait: Duration::from_millis(100),
            ..engine::Config::default()
        },
    );
    let holder = {
        let (engine, tenant) = (engine.clone(), tenant.clone());
        tokio::spawn(async move { engine.initial_load(&tenant).await.map(drop) })
    };
    wait_until(|| gate.snapshots_active() == 1).await;

    let refused = engine.initial_load(&tenant).await.unwrap_err();
    assert!(
        matches!(refused, LoadError::Busy { waited } if waited == Duration::from_millis(100)),
        "{refused:?}"
    );

    // A session answers the same refusal with an `error` that says to retry.
    let (shutdown, _) = watch::channel(false);
    let (mut to_session, inbound) = mpsc::channel(8);
    let (outbound, mut from_session) = mpsc::channel(8);
    let session = Session::new(
        engine.clone(),
        tenant.clone(),
        "tester",
        session::Config::default(),
        shutdown.subscribe(),
    );
    tokio::spawn(session.run(inbound, outbound));
    let request = json!({"type": "request_initial_data", "tenant_id": "household"});
    to_session
        .send(Inbound::Text(request.to_string()))
        .await
        .unwrap();
    assert_eq!(text(&mut from_session).await["status"], "online");
    let reply = text(&mut from_session).await;
    assert_eq!(reply["type"], "error");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.starts_with("overloaded: too many initial loads") && message.contains("retry"),
        "{message}"
    );

    gate.release_snapshots(2);
    holder.await.unwrap().unwrap();
    to_session
        .send(Inbound::Text(request.to_string()))
        .await
        .unwrap();
    let reply = text(&mut from_session).await;
    assert_eq!(reply["event_type"], "initial_data_load", "{reply}");
    wait_until(|| engine.free_snapshot_slots() == 1).await;
}

async fn text(from_session: &mut mpsc::Receiver<Outbound>) -> Value {
    let frame = tokio::time::timeout(Duration::from_secs(5), from_session.next())
        .await
        .expect("the session answers within 5 s");
    match frame {
        Some(Outbound::Text(text)) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not hold within 5 s");
}

type Gated = sync_testkit::gated::Gated<SqliteStore>;
