//! Properties of the store that must hold for every input (proptest).
//!
//! (a) changes with distinct versions converge whatever their order, duplication and
//!     batching; (b) a delete is never undone by an older change; (c) replaying a processed
//!     batch changes nothing; (d) following `changes_since` from any cursor rebuilds the
//!     snapshot.

mod common;

use std::collections::BTreeMap;

use common::{Backend, Fixture, at, delete, registry, tenant, update};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sync_core::TenantId;
use sync_core::change::Change;
use sync_core::outcome::Outcome;
use sync_core::store::{AnyStore, Store};

const IDS: [&str; 3] = ["a0", "a1", "a2"];

/// One change of the model: which entity, delete or not, which name; its version is
/// its index in the generated list, so versions are distinct.
#[derive(Debug, Clone)]
struct Step {
    id: usize,
    delete: bool,
    name: u8,
}

fn change(index: usize, step: &Step) -> Change {
    let change_id = format!("c{index}");
    let version = at(i64::try_from(index).unwrap());
    if step.delete {
        delete(&change_id, IDS[step.id], Some(&version))
    } else {
        update(
            &change_id,
            IDS[step.id],
            &format!("name{}", step.name),
            &version,
        )
    }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0..IDS.len(), prop::bool::weighted(0.3), any::<u8>())
            .prop_map(|(id, delete, name)| Step { id, delete, name }),
        1..10,
    )
}

/// Every entity's stored state, tombstones included, without sequence numbers.
async fn states(
    store: &AnyStore,
    tenant: &TenantId,
) -> Vec<Option<(bool, String, serde_json::Value)>> {
    let mut states = Vec::new();
    for id in IDS {
        let state = store.get_state(tenant, "Account", id).await.unwrap();
        states.push(state.map(|state| (state.deleted, state.version.to_string(), state.data)));
    }
    states
}

/// Live rows keyed by (collection, id).
type Replica = BTreeMap<(String, String), serde_json::Value>;

async fn snapshot_replica(store: &AnyStore, tenant: &TenantId) -> (u64, Replica) {
    let snapshot = store.snapshot(tenant).await.unwrap();
    let mut replica = Replica::new();
    for (collection, rows) in snapshot.collections {
        for row in rows {
            replica.insert(
                (
                    collection.to_owned(),
                    row["id"].as_str().unwrap().to_owned(),
                ),
                row,
            );
        }
    }
    (snapshot.cursor, replica)
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn any_order_duplication_and_batching_converges(
    backend: Backend,
    steps: Vec<Step>,
    shuffle_seed: u64,
    duplicates: Vec<prop::sample::Index>,
    batch_size: usize,
) -> Result<(), TestCaseError> {
    let fixture = Fixture::new(backend, registry()).await;
    let store = fixture.store.clone();
    let changes: Vec<Change> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| change(i, step))
        .collect();

    let in_order = tenant("in-order");
    for change in &changes {
        store
            .apply(&in_order, std::slice::from_ref(change))
            .await
            .unwrap();
    }

    let mut delivered = changes.clone();
    for duplicate in &duplicates {
        delivered.push(changes[duplicate.index(changes.len())].clone());
    }
    shuffle(&mut delivered, shuffle_seed);
    let shuffled = tenant("shuffled");
    for batch in delivered.chunks(batch_size) {
        store.apply(&shuffled, batch).await.unwrap();
    }

    prop_assert_eq!(
        states(&store, &in_order).await,
        states(&store, &shuffled).await
    );
    fixture.clean_up().await;
    Ok(())
}

async fn a_delete_is_never_undone_by_an_older_change(
    backend: Backend,
    older: Vec<(i64, u8)>,
    delete_position: prop::sample::Index,
) -> Result<(), TestCaseError> {
    let fixture = Fixture::new(backend, registry()).await;
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let mut changes: Vec<Change> = older
        .iter()
        .enumerate()
        .map(|(i, (minutes, name))| {
            update(&format!("u{i}"), "a0", &format!("n{name}"), &at(*minutes))
        })
        .collect();
    let position = delete_position.index(changes.len() + 1);
    changes.insert(position, delete("d", "a0", Some(&at(50))));
    for change in &changes {
        store
            .apply(&tenant, std::slice::from_ref(change))
            .await
            .unwrap();
    }
    let state = store
        .get_state(&tenant, "Account", "a0")
        .await
        .unwrap()
        .unwrap();
    prop_assert!(state.deleted);
    prop_assert_eq!(state.version.to_string(), at(50));
    fixture.clean_up().await;
    Ok(())
}

async fn replaying_a_processed_batch_changes_nothing(
    backend: Backend,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    let fixture = Fixture::new(backend, registry()).await;
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let mut changes: Vec<Change> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| change(i, step))
        .collect();
    changes.push(Change {
        entity_type: "Unknown".into(),
        ..change(99, &steps[0])
    });
    store.apply(&tenant, &changes).await.unwrap();
    let before = (
        snapshot_replica(&store, &tenant).await,
        states(&store, &tenant).await,
    );

    let replay = store.apply(&tenant, &changes).await.unwrap();
    for outcome in &replay.outcomes {
        prop_assert!(
            matches!(outcome, Outcome::Duplicate { .. } | Outcome::Rejected(_)),
            "{:?}",
            outcome
        );
    }
    prop_assert_eq!(replay.cursor, before.0.0);
    prop_assert_eq!(
        (
            snapshot_replica(&store, &tenant).await,
            states(&store, &tenant).await
        ),
        before
    );
    fixture.clean_up().await;
    Ok(())
}

async fn following_the_feed_from_any_cursor_rebuilds_the_snapshot(
    backend: Backend,
    batches: Vec<Vec<Step>>,
    page: usize,
) -> Result<(), TestCaseError> {
    let fixture = Fixture::new(backend, registry()).await;
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let mut seen = vec![snapshot_replica(&store, &tenant).await];
    let mut index = 0;
    for steps in &batches {
        let batch: Vec<Change> = steps
            .iter()
            .map(|step| {
                index += 1;
                change(index, step)
            })
            .collect();
        store.apply(&tenant, &batch).await.unwrap();
        seen.push(snapshot_replica(&store, &tenant).await);
    }
    let (final_cursor, expected) = snapshot_replica(&store, &tenant).await;

    for (mut cursor, mut replica) in seen {
        loop {
            let changes = store.changes_since(&tenant, cursor, page).await.unwrap();
            prop_assert!(!changes.reset);
            prop_assert!(changes.changes.len() <= page);
            prop_assert!(
                changes
                    .changes
                    .windows(2)
                    .all(|pair| pair[0].seq < pair[1].seq)
            );
            for change in &changes.changes {
                let key = (change.collection.to_owned(), change.entity_id.clone());
                if change.deleted {
                    replica.remove(&key);
                } else {
                    replica.insert(key, change.data.clone());
                }
            }
            cursor = changes.cursor;
            if !changes.has_more {
                break;
            }
        }
        prop_assert_eq!(cursor, final_cursor);
        prop_assert_eq!(&replica, &expected);
    }
    fixture.clean_up().await;
    Ok(())
}

/// The properties as proptests against one backend, `$cases` cases each.
macro_rules! properties {
    ($module:ident, $backend:expr, $cases:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]

                #[test]
                fn any_order_duplication_and_batching_converges(steps in steps(), shuffle_seed in any::<u64>(), duplicates in prop::collection::vec(any::<prop::sample::Index>(), 0..5), batch_size in 1_usize..4) {
                    run(super::any_order_duplication_and_batching_converges($backend, steps, shuffle_seed, duplicates, batch_size))?;
                }

                #[test]
                fn a_delete_is_never_undone_by_an_older_change(older in prop::collection::vec((0_i64..50, any::<u8>()), 1..8), delete_position in any::<prop::sample::Index>()) {
                    run(super::a_delete_is_never_undone_by_an_older_change($backend, older, delete_position))?;
                }

                #[test]
                fn replaying_a_processed_batch_changes_nothing(steps in steps()) {
                    run(super::replaying_a_processed_batch_changes_nothing($backend, steps))?;
                }

                #[test]
                fn following_the_feed_from_any_cursor_rebuilds_the_snapshot(batches in prop::collection::vec(steps(), 1..5), page in 1_usize..5) {
                    run(super::following_the_feed_from_any_cursor_rebuilds_the_snapshot($backend, batches, page))?;
                }
            }
        }
    };
}

properties!(sqlite, Backend::Sqlite, 48);
// Fewer cases on PostgreSQL, where each case opens a fresh schema.
properties!(postgres, Backend::Postgres, 16);

/// A deterministic Fisher-Yates shuffle, so proptest's seed replays the same order.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((seed >> 33) % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}
