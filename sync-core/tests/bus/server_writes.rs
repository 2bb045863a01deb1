//! Server-side writes through the engine reach connected sessions like a client's.

use std::time::Duration;

use sync_core::TenantId;
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::outcome::Outcome;
use sync_core::store::sqlite::SqliteStore;
use sync_core::store::{Store, StoreExt};
use sync_core::{Registry, session};
use tokio::sync::watch;

use crate::harness::Account;

#[tokio::test]
async fn server_puts_and_deletes_reach_connected_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder().entity::<Account>().build().unwrap();
    let store = SqliteStore::builder(dir.path(), registry)
        .open()
        .await
        .unwrap();
    let engine = Engine::new(store, Hub::new(64), engine::Config::default());
    let tenant = TenantId::new("t").unwrap();
    let shutdown = watch::channel(false).0;

    let (_to_session, inbound) = futures::channel::mpsc::channel(8);
    let (outbound, mut from_session) = futures::channel::mpsc::channel(64);
    let session = session::Session::new(
        engine.clone(),
        tenant.clone(),
        "tester",
        session::Config::default(),
        shutdown.subscribe(),
    );
    tokio::spawn(session.run(inbound, outbound));
    let mut next = async || {
        use futures::StreamExt;
        let frame = tokio::time::timeout(Duration::from_secs(5), from_session.next())
            .await
            .unwrap()
            .unwrap();
        match frame {
            session::Outbound::Text(text) => {
                serde_json::from_str::<serde_json::Value>(&text).unwrap()
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(next().await["status"], "online");
    // The session subscribes before it says it is online.
    while engine.hub().sessions(&tenant) == 0 {
        tokio::task::yield_now().await;
    }

    let account = Account::new("a1", "Giro", 2.5);
    let Outcome::Applied { effect, .. } = engine.put(&tenant, &account).await.unwrap() else {
        panic!("the put applies");
    };
    let update = next().await;
    assert_eq!(update["event_type"], "data_update");
    assert_eq!(update["operation_type"], "update");
    assert_eq!(update["cursor"], effect.seq);
    assert_eq!(update["data"]["single_entity"]["name"], "Giro");
    assert_eq!(
        engine
            .get::<Account>(&tenant, "a1")
            .await
            .unwrap()
            .unwrap()
            .balance,
        2.5
    );
    assert_eq!(engine.list::<Account>(&tenant).await.unwrap().len(), 1);

    let Outcome::Applied { effect, .. } = engine.delete::<Account>(&tenant, "a1").await.unwrap()
    else {
        panic!("the delete applies");
    };
    let update = next().await;
    assert_eq!(update["operation_type"], "delete");
    assert_eq!(update["cursor"], effect.seq);
    assert!(
        engine
            .get::<Account>(&tenant, "a1")
            .await
            .unwrap()
            .is_none()
    );

    // The store's own helpers bypass sync: nothing reaches the session.
    engine.store().put(&tenant, &account).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), next())
            .await
            .is_err(),
        "StoreExt::put is not broadcast"
    );
    assert_eq!(engine.store().cursor(&tenant).await.unwrap(), 3);
}
