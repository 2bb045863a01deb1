//! What only the PostgreSQL store has: several processes writing one tenant's shared
//! tables, a database that is unreachable or goes away, and every column type round-tripping
//! exactly as through SQLite.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sync_core::change::Change;
use sync_core::store::postgres::{PostgresStore, mask_password};
use sync_core::store::{AnyStore, Store, StoreExt};
use sync_core::{Error, Registry, Syncable};
use tokio::net::TcpListener;

use common::backend::{database_url, postgres};
use common::{Backend, Fixture, at, registry, tenant, update};
use sync_testkit::proxy::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_separate_pools_never_show_a_follower_a_gap() {
    let fixture = Fixture::new(Backend::Postgres, registry()).await;
    let schema = fixture.schema().unwrap().to_owned();
    let tenant = tenant("shared");
    let mut writers = Vec::new();
    for writer in 0..3 {
        // Separate stores, as separate server processes: their own pools and connections.
        let store = postgres(registry(), &schema, |builder| builder)
            .await
            .unwrap();
        let tenant = tenant.clone();
        writers.push(tokio::spawn(async move {
            let mut latest = HashMap::new();
            for n in 0..40 {
                // Each writer rewrites a few ids of its own and one id all writers share.
                let batch: Vec<Change> = (0..3)
                    .map(|k| {
                        let id = if k == 0 {
                            "hot".to_owned()
                        } else {
                            format!("w{writer}-{}", n % 5)
                        };
                        update(
                            &format!("w{writer}-c{n}-{k}"),
                            &id,
                            &format!("w{writer} n{n}"),
                            &at(i64::from(n)),
                        )
                    })
                    .collect();
                let outcome = store.apply(&tenant, &batch).await.unwrap();
                latest.insert(n, outcome.cursor);
            }
            latest
        }));
    }

    let follower = postgres(registry(), &schema, |builder| builder)
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let follow = {
        let (done, tenant) = (done.clone(), tenant.clone());
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut replica: HashMap<String, serde_json::Value> = HashMap::new();
            let mut last_seq_seen = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = follower.changes_since(&tenant, cursor, 7).await.unwrap();
                assert!(!page.reset);
                assert!(page.cursor >= cursor, "the cursor only grows");
                for change in &page.changes {
                    assert!(
                        change.seq > last_seq_seen,
                        "seq {} after {last_seq_seen}: a lower seq became visible later",
                        change.seq
                    );
                    last_seq_seen = change.seq;
                    replica.insert(change.entity_id.clone(), change.data.clone());
                }
                cursor = page.cursor;
                if finished && !page.has_more {
                    return (cursor, replica);
                }
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (cursor, replica) = follow.await.unwrap();

    let store = &fixture.store;
    assert_eq!(cursor, store.cursor(&tenant).await.unwrap());
    let snapshot = store.snapshot(&tenant).await.unwrap();
    assert_eq!(snapshot.cursor, cursor);
    let expected: HashMap<String, serde_json::Value> = snapshot.collections["accounts"]
        .iter()
        .map(|row| (row["id"].as_str().unwrap().to_owned(), row.clone()))
        .collect();
    assert_eq!(
        replica, expected,
        "the follower saw every entity's latest state"
    );
    fixture.clean_up().await;
}

#[tokio::test]
async fn an_unreachable_database_fails_connect_naming_the_url_without_its_password() {
    // A port nobody listens on: bind one, then free it.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/app");
    let error = PostgresStore::builder(&url, registry())
        .acquire_timeout(Duration::from_secs(1))
        .connect()
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("postgres://app:***@127.0.0.1:{port}/app")),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert_eq!(
        mask_password(&url),
        format!("postgres://app:***@127.0.0.1:{port}/app")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_fails_fast_and_the_pool_recovers_when_it_returns() {
    let fixture = Fixture::new(Backend::Postgres, registry()).await;
    let url = database_url();
    let host_port = url
        .rsplit('@')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let proxy = Proxy::start(host_port.clone()).await;
    let proxied = url.replacen(&host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let store = PostgresStore::builder(&proxied, registry())
        .schema(fixture.schema().unwrap())
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let tenant = tenant("t");
    store
        .apply(&tenant, &[update("c1", "a1", "before", &at(1))])
        .await
        .unwrap();

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let error = store
        .apply(&tenant, &[update("c2", "a2", "during", &at(2))])
        .await
        .expect_err("the database is gone");
    assert!(matches!(error, Error::Database(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed after {:?}",
        started.elapsed()
    );
    assert!(store.cursor(&tenant).await.is_err());

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        match store
            .apply(&tenant, &[update("c2", "a2", "after", &at(2))])
            .await
        {
            Ok(outcome) => break outcome,
            Err(error) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = error;
            }
            Err(error) => panic!("the pool did not recover: {error}"),
        }
    };
    assert_eq!(outcome.cursor, 2, "the failed batch wrote nothing");
    fixture.clean_up().await;
}

/// A database lost while a session is open: its writes are NACKed `storage_error` with
/// `retryable: true`, the session keeps answering, and once the database is back the same
/// change is ACKed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_lost_database_with_retryable_nacks() {
    use futures::channel::mpsc;
    use futures::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use sync_core::engine::{Config, Engine};
    use sync_core::hub::Hub;
    use sync_core::session::{self, Inbound, Outbound, Session};

    let fixture = Fixture::new(Backend::Postgres, registry()).await;
    let url = database_url();
    let host_port = url
        .rsplit('@')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let proxy = Proxy::start(host_port.clone()).await;
    let proxied = url.replacen(&host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let store = PostgresStore::builder(&proxied, registry())
        .schema(fixture.schema().unwrap())
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let engine = Engine::new(store, Hub::new(16), Config::default());
    let (shutdown, _) = tokio::sync::watch::channel(false);
    let (mut to_session, inbound) = mpsc::channel(16);
    let (outbound, mut from_session) = mpsc::channel(64);
    let session = Session::new(
        engine,
        tenant("t"),
        "tester",
        session::Config::default(),
        shutdown.subscribe(),
    );
    let task = tokio::spawn(session.run(inbound, outbound));
    let mut next = async move || -> Value {
        match tokio::time::timeout(Duration::from_secs(10), from_session.next()).await {
            Ok(Some(Outbound::Text(text))) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    };
    assert_eq!(next().await["status"], "online");
    let entry = json!({"type": "process_sync_entry", "payload": {
        "id": "e1", "tenantId": "t", "entityId": "a1", "entityType": "Account",
        "operationType": "create",
        "payload": {"id": "a1", "name": "n", "balance": 1.0, "updated_at": at(1)},
    }});

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    to_session
        .send(Inbound::Text(entry.to_string()))
        .await
        .unwrap();
    let nack = next().await;
    assert_eq!(nack["type"], "sync_nack", "{nack}");
    assert_eq!(nack["reason"], "storage_error", "{nack}");
    assert_eq!(nack["retryable"], true, "{nack}");
    to_session
        .send(Inbound::Text(
            json!({"type": "ping", "timestamp": 7}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        next().await,
        json!({"type": "pong", "timestamp": 7}),
        "the session stays open"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        to_session
            .send(Inbound::Text(entry.to_string()))
            .await
            .unwrap();
        let answer = next().await;
        if answer["type"] == "sync_ack" {
            assert_eq!(answer["id"], "e1", "{answer}");
            break;
        }
        assert_eq!(answer["reason"], "storage_error", "{answer}");
        assert!(
            Instant::now() < deadline,
            "the store did not recover: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(to_session);
    let _ = task.await;
    fixture.clean_up().await;
}

/// Every column type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(entity = "Sample", table = "samples")]
struct Sample {
    #[sync(id)]
    id: uuid::Uuid,
    text: String,
    flag: bool,
    small: i16,
    int: i32,
    big: i64,
    real: f32,
    double: f64,
    when: DateTime<Utc>,
    day: NaiveDate,
    maybe: Option<String>,
    #[sync(json)]
    tags: Vec<String>,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_type_round_trips_as_through_sqlite() {
    let registry = || Registry::builder().entity::<Sample>().build().unwrap();
    let sample = Sample {
        id: uuid::Uuid::new_v4(),
        text: "naïve \"quoted\" 'text'".into(),
        flag: true,
        small: -12_345,
        int: i32::MIN,
        big: i64::MAX,
        real: 0.1,
        double: -1.0e-300,
        when: DateTime::from_timestamp_micros(1_767_225_600_123_456).unwrap(),
        day: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
        maybe: None,
        tags: vec!["a".into(), "ü".into()],
        updated_at: Some(DateTime::from_timestamp_millis(1_767_225_600_789).unwrap()),
    };
    let tenant = tenant("t");
    let mut states = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let fixture = Fixture::new(backend, registry()).await;
        let store: &AnyStore = &fixture.store;
        store.put(&tenant, &sample).await.unwrap();
        let back: Sample = store
            .get(&tenant, &sample.id.to_string())
            .await
            .unwrap()
            .unwrap();
        let state = store
            .get_state(&tenant, "Sample", &sample.id.to_string())
            .await
            .unwrap()
            .unwrap();
        let page = store.changes_since(&tenant, 0, 10).await.unwrap();
        assert_eq!(page.changes[0].data, state.data, "{backend:?}");
        states.push((
            back,
            state.data,
            store.list_json(&tenant, "Sample").await.unwrap(),
        ));
        fixture.clean_up().await;
    }
    assert_eq!(
        states[0], states[1],
        "SQLite and PostgreSQL store the same values"
    );
    let (back, data, _) = &states[1];
    assert_eq!(
        back.when,
        DateTime::from_timestamp_millis(1_767_225_600_123).unwrap(),
        "milliseconds"
    );
    assert_eq!(data["updated_at"], "2026-01-01T00:00:00.789Z");
    assert_eq!(back.real, 0.1_f32);
    assert_eq!(
        (back.big, back.int, back.small),
        (i64::MAX, i32::MIN, -12_345)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_postgresql_cannot_hold_is_refused_per_change() {
    let fixture = Fixture::new(Backend::Postgres, registry()).await;
    let tenant = tenant("t");
    let batch = fixture
        .store
        .apply(
            &tenant,
            &[
                update("c1", "a1", "nul\0byte", &at(1)),
                update("c2", "a2", "fine", &at(1)),
            ],
        )
        .await
        .unwrap();
    assert!(
        matches!(&batch.outcomes[0], sync_core::outcome::Outcome::Rejected(r) if r.detail.contains("NUL")),
        "{:?}",
        batch.outcomes[0]
    );
    assert_eq!(batch.cursor, 1, "the other change committed");
    fixture.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_nodes_starting_at_once_prepare_one_schema() {
    let schema = format!("sync_test_{}", uuid::Uuid::new_v4().simple());
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let schema = schema.clone();
            tokio::spawn(async move {
                postgres(registry(), &schema, |builder| builder.max_connections(1)).await
            })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().unwrap());
    }
    let tenant = tenant("t");
    stores[0]
        .apply(&tenant, &[update("c1", "a1", "x", &at(1))])
        .await
        .unwrap();
    assert_eq!(stores[3].cursor(&tenant).await.unwrap(), 1);
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(stores[0].pool())
        .await
        .unwrap();
}

mod narrow {
    use super::*;
    /// The common `Account`'s table with one more required field and no default.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Account", table = "accounts")]
    pub(crate) struct Account {
        #[sync(id)]
        pub(crate) id: String,
        pub(crate) name: String,
        pub(crate) level: i32,
        #[sync(updated_at)]
        pub(crate) updated_at: Option<DateTime<Utc>>,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_refusals_count_live_rows_of_every_tenant_sharing_the_table() {
    let fixture = Fixture::new(Backend::Postgres, registry()).await;
    fixture
        .store
        .apply(&tenant("a"), &[update("c1", "a1", "x", &at(1))])
        .await
        .unwrap();
    let registry = Registry::builder()
        .entity::<narrow::Account>()
        .build()
        .unwrap();
    let error = fixture.open(registry).await.err().expect("refused");
    let message = error.to_string();
    assert!(matches!(error, Error::Schema { .. }), "{error:?}");
    assert!(message.contains("column \"level\""), "{message}");
    assert!(
        message.contains("1 live rows"),
        "tenant a's row counts: {message}"
    );
    fixture.clean_up().await;
}
