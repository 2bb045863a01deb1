//! The engine's group commit: concurrent batches of one tenant share commits, and each
//! submitter gets back exactly its own outcomes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::change::Change;
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::outcome::Outcome;
use sync_core::store::Store;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Registry, Syncable, TenantId};

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
struct Note {
    #[sync(id)]
    id: String,
    text: String,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submitters_each_get_their_own_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builder().entity::<Note>().build().unwrap();
    // FULL makes each commit slow enough that waiting batches pile up and are grouped.
    let store = SqliteStore::builder(dir.path(), registry)
        .synchronous(Synchronous::Full)
        .open()
        .await
        .unwrap();
    let engine = Engine::new(store, Hub::new(16), engine::Config::default());
    let tenant = TenantId::new("t").unwrap();

    let submitters: Vec<_> = (0..20)
        .map(|submitter| {
            let (engine, tenant) = (engine.clone(), tenant.clone());
            tokio::spawn(async move {
                let changes: Vec<Change> = (0..3)
                    .map(|n| {
                        let note = Note {
                            id: format!("s{submitter}-{n}"),
                            text: "x".into(),
                            updated_at: None,
                        };
                        Change::upsert(&note).unwrap()
                    })
                    .collect();
                let batch = engine.submit(&tenant, None, changes).await.unwrap();
                (submitter, batch)
            })
        })
        .collect();

    let mut cursors = Vec::new();
    for task in submitters {
        let (submitter, batch) = task.await.unwrap();
        let ids: Vec<String> = batch
            .outcomes
            .iter()
            .map(|outcome| match outcome {
                Outcome::Applied { effect, .. } => effect.entity_id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            ids,
            (0..3)
                .map(|n| format!("s{submitter}-{n}"))
                .collect::<Vec<_>>()
        );
        cursors.push(batch.cursor);
    }
    assert_eq!(engine.store().cursor(&tenant).await.unwrap(), 60);
    cursors.sort_unstable();
    cursors.dedup();
    assert!(
        cursors.len() < 20,
        "some batches shared a commit: cursors {cursors:?}"
    );
}
