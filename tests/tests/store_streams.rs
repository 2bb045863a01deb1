//! Properties of a stream bucket's catch-up, on both stores (proptest): for random
//! histories of payments that are created, moved between accounts, made drafts (which the
//! stream's filter leaves out) and deleted, with tombstones purged at a random point,
//! catching a bucket up from any cursor at or after the purge horizon gives exactly the
//! bucket as the full history says it is now; an older cursor is told to reset.

mod common;

use std::collections::BTreeMap;

use common::{Backend, Fixture, at, tenant};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::json;
use sync_core::change::{Change, Operation};
use sync_core::protocol::BucketOp;
use sync_core::store::catch_up::bucket_changes;
use sync_core::store::{AnyStore, Store};
use sync_core::{TenantId, Version};

const IDS: [&str; 4] = ["p0", "p1", "p2", "p3"];
const KEYS: [&str; 3] = ["A", "B", "C"];
const STREAM: &str = "payments_by_account";

/// One change of the history: the payment, and its account and draft flag, or a delete.
#[derive(Debug, Clone)]
struct Step {
    id: usize,
    key: usize,
    draft: bool,
    delete: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0..IDS.len(),
            0..KEYS.len(),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(id, key, draft, delete)| Step {
                id,
                key,
                draft,
                delete,
            }),
        1..24,
    )
}

fn change(index: usize, step: &Step) -> Change {
    let id = IDS[step.id];
    let updated_at = at(i64::try_from(index).unwrap());
    Change {
        id: format!("c{index}"),
        entity_type: "Payment".to_owned(),
        entity_id: id.to_owned(),
        operation: if step.delete {
            Operation::Delete
        } else {
            Operation::Update
        },
        payload: Some(json!({
            "id": id, "accountId": KEYS[step.key], "amount": index, "draft": step.draft,
            "updated_at": updated_at,
        })),
    }
}

/// The model: per payment its account and whether it is visible (live, not a draft).
type Rows = BTreeMap<&'static str, (usize, bool)>;

/// Bucket `key` of the model: the ids it holds.
fn bucket(rows: &Rows, key: usize) -> Vec<String> {
    rows.iter()
        .filter(|(_, (account, visible))| *account == key && *visible)
        .map(|(id, _)| (*id).to_owned())
        .collect()
}

async fn cursor(store: &AnyStore, tenant: &TenantId) -> u64 {
    store.cursor(tenant).await.unwrap()
}

async fn catch_up_from_any_cursor_rebuilds_the_bucket(
    backend: Backend,
    steps: Vec<Step>,
    purge_after: usize,
) -> Result<(), TestCaseError> {
    let fixture = Fixture::new(backend, sync_testkit::entities::streamed()).await;
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let mut rows: Rows = BTreeMap::new();
    // Per step: the tenant cursor after it and the model's buckets then.
    let mut seen = vec![(0, rows.clone())];
    let purge_after = purge_after % (steps.len() + 1);
    let mut horizon_seq = 0;
    for (index, step) in steps.iter().enumerate() {
        store.apply(&tenant, &[change(index, step)]).await.unwrap();
        if step.delete {
            rows.remove(IDS[step.id]);
        } else {
            rows.insert(IDS[step.id], (step.key, !step.draft));
        }
        seen.push((cursor(&store, &tenant).await, rows.clone()));
        if index + 1 == purge_after {
            // Tombstones of every change so far are older than this horizon.
            let horizon = Version::parse(&at(i64::try_from(index).unwrap() + 1)).unwrap();
            horizon_seq = store
                .purge_tombstones(&tenant, horizon)
                .await
                .unwrap()
                .horizon_seq;
        }
    }
    for (at_cursor, then) in &seen {
        for (key, name) in KEYS.iter().enumerate() {
            let read = bucket_changes(&store, &tenant, STREAM, name, *at_cursor)
                .await
                .unwrap();
            if *at_cursor > 0 && *at_cursor < horizon_seq {
                prop_assert!(read.reset, "a cursor below the horizon resets");
                continue;
            }
            prop_assert!(!read.reset);
            prop_assert!(
                read.changes
                    .windows(2)
                    .all(|pair| pair[0].seq < pair[1].seq)
            );
            let mut held: Vec<String> = bucket(then, key);
            for change in &read.changes {
                prop_assert_eq!(&change.bucket, name);
                held.retain(|id| *id != change.entity_id);
                if change.op == BucketOp::Put {
                    prop_assert_eq!(
                        change.data.as_ref().unwrap()["accountId"].as_str(),
                        Some(KEYS[key])
                    );
                    held.push(change.entity_id.clone());
                }
            }
            held.sort();
            prop_assert_eq!(
                held,
                bucket(&rows, key),
                "bucket {} from cursor {}",
                KEYS[key],
                at_cursor
            );
        }
    }
    fixture.clean_up().await;
    Ok(())
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

macro_rules! properties {
    ($module:ident, $backend:expr, $cases:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]

                #[test]
                fn catch_up_from_any_cursor_rebuilds_the_bucket(steps in steps(), purge_after in any::<usize>()) {
                    run(super::catch_up_from_any_cursor_rebuilds_the_bucket($backend, steps, purge_after))?;
                }
            }
        }
    };
}

properties!(sqlite, Backend::Sqlite, 64);
// Fewer cases on PostgreSQL, where each case opens a fresh schema.
properties!(postgres, Backend::Postgres, 16);
