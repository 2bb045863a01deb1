//! Per-field merging (`#[sync(merge = "field")]`, sync-testkit's `Contact`) on both stores:
//! concurrent edits of different fields both survive, `max` keeps the greatest value, a
//! change without field versions counts at its `updated_at`, a delete is final, reads carry
//! the field versions; and, as proptests, any order, duplication and batching of the same
//! field-level changes ends in the same row.

mod common;

use common::{Backend, Fixture, at, store_tests, tenant};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value as Json, json};
use sync_core::TenantId;
use sync_core::change::{Change, Operation};
use sync_core::merge::FIELD_VERSIONS_KEY;
use sync_core::outcome::Outcome;
use sync_core::store::{AnyStore, Store};
use sync_testkit::entities::contacts;

/// The field versions of a change: of `name`, `email` and `visits`.
type Versions = [i64; 3];

/// A change of contact `id` at minute `minute`, with its field versions (minutes) when
/// given.
fn contact(
    change_id: &str,
    id: &str,
    (name, email, visits): (&str, Option<&str>, i64),
    minute: i64,
    versions: Option<Versions>,
) -> Change {
    let mut payload = json!({
        "id": id, "name": name, "email": email, "visits": visits, "updated_at": at(minute),
    });
    if let Some([name, email, visits]) = versions {
        payload[FIELD_VERSIONS_KEY] =
            json!({ "name": at(name), "email": at(email), "visits": at(visits) });
    }
    Change {
        id: change_id.to_owned(),
        entity_type: "Contact".to_owned(),
        entity_id: id.to_owned(),
        operation: Operation::Update,
        payload: Some(payload),
    }
}

fn delete(change_id: &str, id: &str, minute: i64) -> Change {
    Change {
        id: change_id.to_owned(),
        entity_type: "Contact".to_owned(),
        entity_id: id.to_owned(),
        operation: Operation::Delete,
        payload: Some(json!({ "id": id, "updated_at": at(minute) })),
    }
}

async fn state(store: &AnyStore, tenant: &TenantId, id: &str) -> (bool, String, Json) {
    let state = store
        .get_state(tenant, "Contact", id)
        .await
        .unwrap()
        .expect("a stored state");
    (state.deleted, state.version.to_string(), state.data)
}

fn merged(outcome: &Outcome) -> Option<bool> {
    match outcome {
        Outcome::Applied { merged, .. } => Some(*merged),
        _ => None,
    }
}

store_tests! {
    registry = sync_testkit::entities::contacts();

    async fn edits_of_different_fields_both_survive(fixture: Fixture) {
        let store = &fixture.store;
        let tenant = tenant("t");
        let base = contact("c0", "k1", ("Ann", None, 1), 0, None);
        store.apply(&tenant, &[base]).await.unwrap();
        // Two replicas edited the row at minute 0: one the name (minute 2), one the e-mail
        // (minute 1), each keeping the other fields' versions.
        let name = contact("c1", "k1", ("Anna", None, 1), 2, Some([2, 0, 0]));
        let email = contact("c2", "k1", ("Ann", Some("ann@example.com"), 1), 1, Some([0, 1, 0]));
        let batch = store.apply(&tenant, &[name]).await.unwrap();
        assert_eq!(merged(&batch.outcomes[0]), Some(false), "{batch:?}");
        let batch = store.apply(&tenant, &[email]).await.unwrap();
        // The e-mail's change is stored merged with the name's: its origin must adopt it.
        assert_eq!(merged(&batch.outcomes[0]), Some(true), "{batch:?}");
        let (deleted, version, data) = state(store, &tenant, "k1").await;
        assert!(!deleted);
        assert_eq!(version, at(2), "the highest updated_at merged into the row");
        assert_eq!(data["name"], "Anna");
        assert_eq!(data["email"], "ann@example.com");
        assert_eq!(
            data[FIELD_VERSIONS_KEY],
            json!({ "name": at(2), "email": at(1), "visits": at(0) })
        );
        // The other order ends in the same row.
        let other = common::tenant("other");
        store.apply(&other, &[contact("c0", "k1", ("Ann", None, 1), 0, None)]).await.unwrap();
        store
            .apply(&other, &[
                contact("c2", "k1", ("Ann", Some("ann@example.com"), 1), 1, Some([0, 1, 0])),
                contact("c1", "k1", ("Anna", None, 1), 2, Some([2, 0, 0])),
            ])
            .await
            .unwrap();
        assert_eq!(state(store, &other, "k1").await, (deleted, version, data));
    }

    async fn a_change_without_field_versions_counts_at_its_updated_at(fixture: Fixture) {
        let store = &fixture.store;
        let tenant = tenant("t");
        store
            .apply(&tenant, &[
                contact("c0", "k1", ("Ann", None, 0), 0, None),
                contact("c1", "k1", ("Anna", None, 0), 4, Some([4, 0, 0])),
            ])
            .await
            .unwrap();
        // A FinWise-style writer at minute 2: older than the name, newer than the e-mail.
        let plain = contact("c2", "k1", ("Annie", Some("a@example.com"), 0), 2, None);
        let batch = store.apply(&tenant, &[plain]).await.unwrap();
        assert_eq!(merged(&batch.outcomes[0]), Some(true), "{batch:?}");
        let (_, version, data) = state(store, &tenant, "k1").await;
        assert_eq!(version, at(4));
        assert_eq!((data["name"].as_str(), data["email"].as_str()), (Some("Anna"), Some("a@example.com")));
        // Older than every field: it changes nothing.
        let stale = contact("c3", "k1", ("Old", None, 0), 0, None);
        let batch = store.apply(&tenant, &[stale]).await.unwrap();
        assert!(matches!(batch.outcomes[0], Outcome::Superseded { .. }), "{batch:?}");
        // A field version ahead of its change's updated_at counts at the updated_at.
        let ahead = contact("c4", "k1", ("Ahead", None, 0), 3, Some([9, 3, 3]));
        store.apply(&tenant, &[ahead]).await.unwrap();
        assert_eq!(state(store, &tenant, "k1").await.2["name"], "Anna");
    }

    async fn max_keeps_the_greatest_value(fixture: Fixture) {
        let store = &fixture.store;
        let tenant = tenant("t");
        store
            .apply(&tenant, &[
                contact("c0", "k1", ("Ann", None, 5), 1, None),
                contact("c1", "k1", ("Ann", None, 3), 2, None),
            ])
            .await
            .unwrap();
        let (_, version, data) = state(store, &tenant, "k1").await;
        assert_eq!((version, data["visits"].as_i64()), (at(2), Some(5)));
        assert_eq!(data[FIELD_VERSIONS_KEY]["visits"], at(2));
        store
            .apply(&tenant, &[contact("c2", "k1", ("Ann", None, 8), 0, None)])
            .await
            .unwrap();
        assert_eq!(state(store, &tenant, "k1").await.2["visits"], 8, "even from an older change");
    }

    async fn a_delete_is_final(fixture: Fixture) {
        let store = &fixture.store;
        let tenant = tenant("t");
        store
            .apply(&tenant, &[contact("c0", "k1", ("Ann", None, 0), 5, None)])
            .await
            .unwrap();
        // An older delete still deletes; the tombstone keeps the highest version seen.
        let batch = store.apply(&tenant, &[delete("d1", "k1", 3)]).await.unwrap();
        assert_eq!(merged(&batch.outcomes[0]), Some(true), "{batch:?}");
        let (deleted, version, _) = state(store, &tenant, "k1").await;
        assert!(deleted);
        assert_eq!(version, at(5));
        // A newer update does not bring it back; it only raises the tombstone's version.
        let batch = store
            .apply(&tenant, &[contact("c1", "k1", ("Back", None, 0), 9, None)])
            .await
            .unwrap();
        let Outcome::Applied { effect, merged: true, .. } = &batch.outcomes[0] else {
            panic!("{batch:?}")
        };
        assert!(effect.deleted);
        let (deleted, version, _) = state(store, &tenant, "k1").await;
        assert!(deleted);
        assert_eq!(version, at(9));
        let batch = store
            .apply(&tenant, &[contact("c2", "k1", ("Back", None, 0), 7, None)])
            .await
            .unwrap();
        assert!(matches!(batch.outcomes[0], Outcome::Superseded { .. }), "{batch:?}");
        assert_eq!(store.list_json(&tenant, "Contact").await.unwrap(), Vec::<Json>::new());
    }

    async fn a_retry_of_a_merged_change_is_told_the_current_state(fixture: Fixture) {
        let store = &fixture.store;
        let tenant = tenant("t");
        store
            .apply(&tenant, &[
                contact("c0", "k1", ("Ann", None, 0), 0, None),
                contact("c1", "k1", ("Anna", None, 0), 2, Some([2, 0, 0])),
            ])
            .await
            .unwrap();
        let email = contact("c2", "k1", ("Ann", Some("a@example.com"), 0), 1, Some([0, 1, 0]));
        store.apply(&tenant, std::slice::from_ref(&email)).await.unwrap();
        // Its ACK was lost: the retry must carry the merged state, not "your own".
        let retry = store.apply(&tenant, &[email]).await.unwrap();
        let Outcome::Duplicate { original, current: Some(current) } = &retry.outcomes[0] else {
            panic!("{retry:?}")
        };
        assert_eq!(original.kind, sync_core::outcome::OutcomeKind::Superseded);
        assert_eq!(current.data["name"], "Anna");
        let ack = sync_core::protocol::ack(
            &sync_core::protocol::Entry::default(),
            &retry.outcomes[0],
            retry.cursor,
        );
        let Some(sync_core::protocol::ServerMessage::Ack(ack)) = ack else { panic!("{ack:?}") };
        assert_eq!(ack.data.as_ref().map(|data| &data["name"]), Some(&json!("Anna")));
    }

    async fn an_entity_switched_to_field_merging_keeps_its_rows(fixture: Fixture) {
        // The same table, first merged by whole rows.
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, sync_core::Syncable)]
        #[sync(entity = "Contact", table = "contacts")]
        struct RowContact {
            #[sync(id)]
            id: String,
            name: String,
            email: Option<String>,
            #[serde(default)]
            visits: i64,
            #[sync(updated_at)]
            updated_at: Option<chrono::DateTime<chrono::Utc>>,
        }
        let tenant = tenant("t");
        let before = fixture
            .open(sync_core::Registry::builder().entity::<RowContact>().build().unwrap())
            .await
            .unwrap();
        before
            .apply(&tenant, &[contact("c0", "k1", ("Ann", None, 2), 3, None)])
            .await
            .unwrap();
        let page = before.changes_since(&tenant, 0, 10).await.unwrap();
        assert_eq!(page.changes[0].data.get(FIELD_VERSIONS_KEY), None, "no field versions yet");
        drop(before);

        let after = fixture.open(sync_testkit::entities::contacts()).await.unwrap();
        let (_, _, data) = state(&after, &tenant, "k1").await;
        assert_eq!(
            data[FIELD_VERSIONS_KEY],
            json!({ "name": at(3), "email": at(3), "visits": at(3) }),
            "a stored row counts each field at its updated_at"
        );
        after
            .apply(&tenant, &[contact("c1", "k1", ("Old", Some("a@example.com"), 0), 4, Some([1, 4, 1]))])
            .await
            .unwrap();
        let (_, version, data) = state(&after, &tenant, "k1").await;
        assert_eq!((version, &data["name"], &data["email"]), (at(4), &json!("Ann"), &json!("a@example.com")));
    }

    async fn reads_carry_the_field_versions(fixture: Fixture) {
        let store = &fixture.store;
        let tenant = tenant("t");
        store
            .apply(&tenant, &[
                contact("c0", "k1", ("Ann", None, 0), 1, None),
                contact("c1", "k1", ("Anna", None, 0), 2, Some([2, 1, 1])),
            ])
            .await
            .unwrap();
        let expected = json!({ "name": at(2), "email": at(1), "visits": at(1) });
        let page = store.changes_since(&tenant, 0, 10).await.unwrap();
        assert_eq!(page.changes.len(), 1);
        assert_eq!(page.changes[0].data[FIELD_VERSIONS_KEY], expected);
        let snapshot = store.snapshot(&tenant).await.unwrap();
        assert_eq!(snapshot.collections["contacts"][0][FIELD_VERSIONS_KEY], expected);
        assert_eq!(store.list_json(&tenant, "Contact").await.unwrap()[0][FIELD_VERSIONS_KEY], expected);
    }
}

/// One field-level edit of the model: of which contact, which field (3: a delete), the
/// value, the change's minute, and how much older each untouched field's version is.
#[derive(Debug, Clone)]
struct Edit {
    id: usize,
    field: usize,
    value: u8,
    minute: i64,
    older: Versions,
    plain: bool,
}

const IDS: [&str; 2] = ["k0", "k1"];

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        (
            0..IDS.len(),
            prop_oneof![6 => 0_usize..3, 1 => Just(3_usize)],
            0_u8..4,
            // Few minutes, so equal versions (ties) are common.
            0_i64..6,
            [0_i64..3, 0_i64..3, 0_i64..3],
            prop::bool::weighted(0.15),
        )
            .prop_map(|(id, field, value, minute, older, plain)| Edit {
                id,
                field,
                value,
                minute,
                older,
                plain,
            }),
        1..10,
    )
}

/// The change of an edit: the edited field holds `value` at the change's minute, every
/// other field a value of its own at an older version; `plain` sends no field versions.
fn change_of(change_id: &str, edit: &Edit) -> Change {
    let id = IDS[edit.id];
    if edit.field == 3 {
        return delete(change_id, id, edit.minute);
    }
    let value = |field: usize| {
        if field == edit.field {
            i64::from(edit.value)
        } else {
            // The value the writer last saw: derived from the version, as a replica would.
            (edit.minute - edit.older[field]).rem_euclid(3)
        }
    };
    let name = format!("n{}", value(0));
    let email = format!("e{}", value(1));
    let versions: Versions = std::array::from_fn(|field| {
        if field == edit.field {
            edit.minute
        } else {
            edit.minute - edit.older[field]
        }
    });
    contact(
        change_id,
        id,
        (&name, Some(&email), value(2)),
        edit.minute,
        (!edit.plain).then_some(versions),
    )
}

async fn states(store: &AnyStore, tenant: &TenantId) -> Vec<Option<(bool, String, Json)>> {
    let mut states = Vec::new();
    for id in IDS {
        let state = store.get_state(tenant, "Contact", id).await.unwrap();
        states.push(state.map(|state| (state.deleted, state.version.to_string(), state.data)));
    }
    states
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Applies the edits in order, one per batch; then shuffled, with some delivered twice
/// (a retry under the same change id) and some sent again as new changes, in batches of
/// `batch_size`: both tenants end with the same rows.
async fn any_order_and_duplication_converges(
    backend: Backend,
    edits: Vec<Edit>,
    shuffle_seed: u64,
    retries: Vec<prop::sample::Index>,
    resent: Vec<prop::sample::Index>,
    batch_size: usize,
) -> Result<(), TestCaseError> {
    let fixture = Fixture::new(backend, contacts()).await;
    let store = fixture.store.clone();
    let changes: Vec<Change> = edits
        .iter()
        .enumerate()
        .map(|(index, edit)| change_of(&format!("c{index}"), edit))
        .collect();

    let in_order = tenant("in-order");
    for change in &changes {
        store
            .apply(&in_order, std::slice::from_ref(change))
            .await
            .unwrap();
    }

    let mut delivered = changes.clone();
    for retry in &retries {
        delivered.push(changes[retry.index(changes.len())].clone());
    }
    for (n, again) in resent.iter().enumerate() {
        let index = again.index(changes.len());
        delivered.push(change_of(&format!("again{n}"), &edits[index]));
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

macro_rules! properties {
    ($module:ident, $backend:expr, $cases:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]

                #[test]
                fn any_order_and_duplication_of_field_changes_converges(
                    edits in edits(),
                    shuffle_seed in any::<u64>(),
                    retries in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
                    resent in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
                    batch_size in 1_usize..4,
                ) {
                    run(super::any_order_and_duplication_converges($backend, edits, shuffle_seed, retries, resent, batch_size))?;
                }
            }
        }
    };
}

properties!(sqlite_properties, Backend::Sqlite, 64);
// Fewer cases on PostgreSQL, where each case opens a fresh schema.
properties!(postgres_properties, Backend::Postgres, 16);

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
