//! Large batches, written in multi-row statements, decide and store exactly what the same
//! changes do one by one: many entities, two tables, deletes of stored and never-stored
//! entities, entities touched several times, repeated change ids, and a replay.

mod common;

use common::{at, delete, store_tests, tenant, update};
use serde_json::json;
use sync_core::change::{Change, Operation};
use sync_core::outcome::{BatchOutcome, Outcome};
use sync_core::store::{AnyStore, Store};

const ACCOUNTS: usize = 180;
const GROUPS: usize = 70;

fn group(change_id: &str, id: &str, order: i32, at: &str) -> Change {
    Change {
        id: change_id.to_owned(),
        entity_type: "AccountGroup".to_owned(),
        entity_id: id.to_owned(),
        operation: Operation::Update,
        payload: Some(
            json!({ "id": id, "name": format!("g{order}"), "sortOrder": order, "updated_at": at }),
        ),
    }
}

/// A mixed history: every account created, some updated again later in the batch, some
/// deleted (and one of those recreated), deletes of ids never stored, stale changes that
/// lose, groups in a second table, and a few change ids sent twice.
fn history() -> Vec<Change> {
    let mut changes = Vec::new();
    for n in 0..ACCOUNTS {
        changes.push(update(
            &format!("c{n}"),
            &format!("a{n}"),
            "first",
            &at(n as i64),
        ));
    }
    for n in 0..GROUPS {
        changes.push(group(
            &format!("g{n}"),
            &format!("g{n}"),
            n as i32,
            &at(n as i64),
        ));
    }
    for n in (0..ACCOUNTS).step_by(3) {
        changes.push(update(
            &format!("u{n}"),
            &format!("a{n}"),
            "second",
            &at(1_000 + n as i64),
        ));
    }
    for n in (0..ACCOUNTS).step_by(5) {
        changes.push(delete(
            &format!("d{n}"),
            &format!("a{n}"),
            Some(&at(2_000 + n as i64)),
        ));
    }
    for n in 0..80 {
        changes.push(delete(&format!("x{n}"), &format!("never{n}"), Some(&at(n))));
    }
    for n in (0..ACCOUNTS).step_by(7) {
        // Older than the first write: superseded.
        changes.push(update(&format!("s{n}"), &format!("a{n}"), "stale", &at(-1)));
    }
    changes.push(update("again", "a10", "recreated", &at(5_000)));
    for n in (0..ACCOUNTS).step_by(11) {
        changes.push(changes[n].clone());
    }
    changes
}

/// Every stored state, tombstones included.
async fn states(
    store: &AnyStore,
    name: &str,
) -> Vec<Option<(bool, String, serde_json::Value, u64)>> {
    let tenant = tenant(name);
    let mut states = Vec::new();
    let ids = (0..ACCOUNTS)
        .map(|n| ("Account", format!("a{n}")))
        .chain((0..80).map(|n| ("Account", format!("never{n}"))))
        .chain((0..GROUPS).map(|n| ("AccountGroup", format!("g{n}"))));
    for (entity, id) in ids {
        let state = store.get_state(&tenant, entity, &id).await.unwrap();
        states.push(state.map(|state| {
            (
                state.deleted,
                state.version.to_string(),
                state.data,
                state.seq,
            )
        }));
    }
    states
}

fn kinds(batch: &BatchOutcome) -> Vec<String> {
    batch
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Applied { effect, .. } => {
                format!("applied {} {}", effect.entity_id, effect.seq)
            }
            Outcome::Superseded { winner, .. } => format!("superseded by {}", winner.seq),
            // A retry reports its entity's state as it stands at that point of the batch.
            Outcome::Duplicate { original, current } => format!(
                "duplicate of {}, now at {:?}",
                original.seq,
                current.as_ref().map(|state| state.seq)
            ),
            other => format!("{other:?}"),
        })
        .collect()
}

store_tests! {
async fn a_large_batch_stores_what_the_same_changes_store_one_by_one(fixture: Fixture) {
    let store = fixture.store.clone();
    let changes = history();
    assert!(changes.len() > 400, "several full chunks and a remainder");

    let mut one_by_one = Vec::new();
    for change in &changes {
        let batch = store
            .apply(&tenant("single"), std::slice::from_ref(change))
            .await
            .unwrap();
        one_by_one.extend(kinds(&batch));
    }
    let batch = store.apply(&tenant("batched"), &changes).await.unwrap();
    assert_eq!(kinds(&batch), one_by_one);
    assert_eq!(batch.cursor, store.cursor(&tenant("single")).await.unwrap());
    let batched = states(&store, "batched").await;
    assert_eq!(batched, states(&store, "single").await);
    assert!(
        batched.iter().all(Option::is_some),
        "every entity has a row or a tombstone"
    );
    assert_eq!(
        batched[10]
            .as_ref()
            .map(|state| (state.0, state.2["name"].clone())),
        Some((false, json!("recreated")))
    );

    let replay = store.apply(&tenant("batched"), &changes).await.unwrap();
    assert!(
        replay
            .outcomes
            .iter()
            .all(|outcome| matches!(outcome, Outcome::Duplicate { .. })),
        "a replayed batch is all duplicates"
    );
    assert_eq!(replay.cursor, batch.cursor);
    assert_eq!(states(&store, "batched").await, batched);
}
}
