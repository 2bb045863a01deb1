//! The change feed, snapshots and the tombstone horizon.

mod common;

use common::{at, delete, store_tests, tenant, update};
use sync_core::change::Change;
use sync_core::outcome::Outcome;
use sync_core::store::Store;
use sync_core::version::Version;

store_tests! {
async fn the_feed_pages_in_sequence_order_until_the_current_cursor(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let changes: Vec<Change> = (0..25)
        .map(|n| update(&format!("c{n}"), &format!("a{n}"), "x", &at(n)))
        .collect();
    store.apply(&tenant, &changes).await.unwrap();
    store
        .apply(&tenant, &[update("again", "a3", "edited", &at(100))])
        .await
        .unwrap();
    store
        .apply(&tenant, &[delete("gone", "a4", Some(&at(100)))])
        .await
        .unwrap();

    let mut cursor = 0;
    let mut pages = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.changes_since(&tenant, cursor, 10).await.unwrap();
        pages += 1;
        assert!(!page.reset);
        seen.extend(
            page.changes
                .iter()
                .map(|change| (change.seq, change.entity_id.clone(), change.deleted)),
        );
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(cursor, 27);
    assert_eq!(
        seen.len(),
        25,
        "a row changed twice appears once, at its last change"
    );
    assert!(seen.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert_eq!(seen[23], (26, "a3".to_owned(), false));
    assert_eq!(
        seen[24],
        (27, "a4".to_owned(), true),
        "tombstones are in the feed"
    );

    let empty = store.changes_since(&tenant, 27, 10).await.unwrap();
    assert!(empty.changes.is_empty() && !empty.has_more && !empty.reset);
    assert_eq!(empty.cursor, 27);
}

async fn the_feed_spans_every_entity_in_one_order(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let group = Change {
        id: "g".into(),
        entity_type: "AccountGroup".into(),
        entity_id: "g1".into(),
        operation: sync_core::change::Operation::Create,
        payload: Some(serde_json::json!({"id": "g1", "name": "Banks", "sortOrder": 1})),
    };
    store
        .apply(
            &tenant,
            &[
                update("c1", "a1", "x", &at(1)),
                group,
                update("c2", "a2", "y", &at(1)),
            ],
        )
        .await
        .unwrap();
    let page = store.changes_since(&tenant, 0, 100).await.unwrap();
    let order: Vec<(&str, u64)> = page
        .changes
        .iter()
        .map(|change| (change.collection, change.seq))
        .collect();
    assert_eq!(
        order,
        [("accounts", 1), ("account_groups", 2), ("accounts", 3)]
    );
    assert_eq!(page.changes[1].data["sortOrder"], 1);
}

async fn a_snapshot_holds_every_live_row_and_every_collection(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    for chunk in 0..3 {
        let batch: Vec<Change> = (0..500)
            .map(|n| {
                let id = format!("a{chunk}-{n}");
                update(&id, &id, "bulk", &at(1))
            })
            .collect();
        store.apply(&tenant, &batch).await.unwrap();
    }
    store
        .apply(&tenant, &[delete("d", "a0-0", Some(&at(2)))])
        .await
        .unwrap();
    let snapshot = store.snapshot(&tenant).await.unwrap();
    assert_eq!(
        snapshot.collections["accounts"].len(),
        1499,
        "never truncated, tombstones hidden"
    );
    assert_eq!(
        snapshot.collections["account_groups"],
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(snapshot.cursor, 1501);
    // Streamed (in chunks on SQLite, by a streaming fetch on PostgreSQL): the same rows, in
    // the same order, and the same cursor.
    let mut streamed = sync_core::store::Collect::default();
    store.stream_snapshot(&tenant, &mut streamed).await.unwrap();
    assert_eq!(streamed.into_snapshot(), snapshot);
}

async fn purged_tombstones_reset_older_cursors(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    store
        .apply(
            &tenant,
            &[
                update("c1", "a1", "x", &at(0)),
                update("c2", "a2", "y", &at(0)),
            ],
        )
        .await
        .unwrap();
    store
        .apply(&tenant, &[delete("d1", "a1", Some(&at(1)))])
        .await
        .unwrap(); // seq 3
    store
        .apply(&tenant, &[update("c3", "a2", "later", &at(20))])
        .await
        .unwrap(); // seq 4
    store
        .apply(&tenant, &[delete("d2", "a3", Some(&at(30)))])
        .await
        .unwrap(); // seq 5, kept

    let purge = store
        .purge_tombstones(&tenant, Version::parse(&at(10)).unwrap())
        .await
        .unwrap();
    assert_eq!(purge.removed, 1);
    assert_eq!(purge.horizon_seq, 3);
    assert_eq!(
        store.get_state(&tenant, "Account", "a1").await.unwrap(),
        None
    );
    assert!(
        store
            .get_state(&tenant, "Account", "a3")
            .await
            .unwrap()
            .unwrap()
            .deleted
    );

    for stale in [1, 2] {
        let page = store.changes_since(&tenant, stale, 10).await.unwrap();
        assert!(
            page.reset,
            "cursor {stale} may have missed the purged delete"
        );
        assert!(page.changes.is_empty());
    }
    for fine in [0, 3, 4, 5] {
        assert!(
            !store.changes_since(&tenant, fine, 10).await.unwrap().reset,
            "cursor {fine}"
        );
    }
    assert!(
        store.changes_since(&tenant, 6, 10).await.unwrap().reset,
        "a cursor ahead of the tenant"
    );

    // Processed change ids expire by arrival time: until then a retry is a duplicate...
    let retry = store
        .apply(&tenant, &[delete("d1", "a1", Some(&at(1)))])
        .await
        .unwrap();
    assert!(
        matches!(retry.outcomes[0], Outcome::Duplicate { .. }),
        "{:?}",
        retry.outcomes[0]
    );
    // ...and past the horizon it is decided by last-write-wins alone.
    store
        .purge_tombstones(&tenant, Version::now().add_millis(1_000))
        .await
        .unwrap();
    let retry = store
        .apply(&tenant, &[delete("d1", "a1", Some(&at(1)))])
        .await
        .unwrap();
    assert!(
        matches!(retry.outcomes[0], Outcome::Applied { .. }),
        "{:?}",
        retry.outcomes[0]
    );
}

async fn no_change_older_than_the_horizon_brings_a_purged_entity_back(fixture: Fixture) {
    use sync_core::outcome::Reason;

    let store = fixture.store.clone();
    let tenant = tenant("t");
    store
        .apply(
            &tenant,
            &[update("c1", "a1", "x", &at(0)), update("c2", "a2", "y", &at(0))],
        )
        .await
        .unwrap();
    store
        .apply(&tenant, &[delete("d1", "a1", Some(&at(2)))])
        .await
        .unwrap();
    let rejected = |outcome: &Outcome| match outcome {
        Outcome::Rejected(rejection) => Some(rejection.reason),
        _ => None,
    };

    // Before any purge, an older edit of the deleted entity loses to its tombstone...
    let stale = store
        .apply(&tenant, &[update("late1", "a1", "offline edit", &at(1))])
        .await
        .unwrap();
    assert!(matches!(stale.outcomes[0], Outcome::Superseded { .. }), "{:?}", stale.outcomes[0]);

    // ...and after the tombstone is purged it is refused, never applied: the row stays gone.
    let purge = store
        .purge_tombstones(&tenant, Version::parse(&at(10)).unwrap())
        .await
        .unwrap();
    assert_eq!(purge.removed, 1);
    let changes = [
        update("late2", "a1", "offline edit", &at(1)),
        update("late3", "a1", "offline edit", &at(9)),
        update("late4", "new", "created offline", &at(5)),
        update("late5", "a2", "edit of a live row", &at(5)),
        delete("late6", "gone-too", Some(&at(5))),
        update("fresh", "a9", "after the horizon", &at(10)),
    ];
    let outcomes = store.apply(&tenant, &changes).await.unwrap().outcomes;
    assert_eq!(rejected(&outcomes[0]), Some(Reason::Expired), "{:?}", outcomes[0]);
    assert_eq!(rejected(&outcomes[1]), Some(Reason::Expired), "{:?}", outcomes[1]);
    assert_eq!(
        rejected(&outcomes[2]),
        Some(Reason::Expired),
        "an id the server never saw may be one whose tombstone was purged: {:?}",
        outcomes[2]
    );
    assert!(
        matches!(outcomes[3], Outcome::Applied { .. }),
        "a live row is decided by last-write-wins: {:?}",
        outcomes[3]
    );
    assert!(
        matches!(outcomes[4], Outcome::Applied { .. }),
        "a delete brings nothing back: {:?}",
        outcomes[4]
    );
    assert!(
        matches!(outcomes[5], Outcome::Applied { .. }),
        "a change at the horizon is newer than every purged tombstone: {:?}",
        outcomes[5]
    );
    assert_eq!(store.get_state(&tenant, "Account", "a1").await.unwrap(), None);
    assert_eq!(store.get_state(&tenant, "Account", "new").await.unwrap(), None);

    // Re-creating it on purpose, with a current version, works.
    let again = store
        .apply(&tenant, &[update("again", "a1", "re-created", &at(11))])
        .await
        .unwrap();
    assert!(matches!(again.outcomes[0], Outcome::Applied { .. }));

    // The next purge that removes a tombstone (gone-too's) moves the horizon; one that
    // removes nothing leaves it where it was.
    store
        .purge_tombstones(&tenant, Version::parse(&at(1_000)).unwrap())
        .await
        .unwrap();
    store
        .purge_tombstones(&tenant, Version::parse(&at(2_000)).unwrap())
        .await
        .unwrap();
    let outcomes = store
        .apply(
            &tenant,
            &[update("below", "b1", "x", &at(500)), update("between", "b2", "x", &at(1_500))],
        )
        .await
        .unwrap()
        .outcomes;
    assert_eq!(rejected(&outcomes[0]), Some(Reason::Expired), "{:?}", outcomes[0]);
    assert!(matches!(outcomes[1], Outcome::Applied { .. }), "{:?}", outcomes[1]);
}

async fn a_purge_forgets_exactly_the_change_ids_processed_before_the_horizon(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let older: Vec<Change> = (0..40)
        .map(|n| update(&format!("old{n}"), &format!("a{n}"), "x", &at(n)))
        .collect();
    for chunk in older.chunks(7) {
        store.apply(&tenant, chunk).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let horizon = Version::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newer: Vec<Change> = (0..9)
        .map(|n| update(&format!("new{n}"), &format!("b{n}"), "x", &at(n)))
        .collect();
    store.apply(&tenant, &newer).await.unwrap();
    store.purge_tombstones(&tenant, horizon).await.unwrap();

    // Every id before the horizon is forgotten (decided by last-write-wins again), every
    // later one is still a duplicate.
    let retried = store.apply(&tenant, &older).await.unwrap();
    for (n, outcome) in retried.outcomes.iter().enumerate() {
        assert!(matches!(outcome, Outcome::Applied { .. }), "old{n}: {outcome:?}");
    }
    let retried = store.apply(&tenant, &newer).await.unwrap();
    for (n, outcome) in retried.outcomes.iter().enumerate() {
        assert!(matches!(outcome, Outcome::Duplicate { .. }), "new{n}: {outcome:?}");
    }
}

async fn expired_tombstones_are_purged_by_the_configured_retention(fixture: Fixture) {
    use std::time::Duration;

    let store = fixture
        .open_with_retention(Some(Duration::from_secs(3600)))
        .await;
    let tenant = tenant("t");
    let recent = Version::now().to_string();
    store
        .apply(
            &tenant,
            &[
                delete("old", "a1", Some(&at(1))),
                delete("new", "a2", Some(&recent)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store.purge_expired().await.unwrap(),
        1,
        "only the old tombstone expired"
    );
    assert_eq!(
        store.get_state(&tenant, "Account", "a1").await.unwrap(),
        None
    );
    assert!(
        store
            .get_state(&tenant, "Account", "a2")
            .await
            .unwrap()
            .unwrap()
            .deleted
    );

    let keep_all = fixture.open_with_retention(None).await;
    keep_all.cursor(&tenant).await.unwrap();
    assert_eq!(keep_all.purge_expired().await.unwrap(), 0);
}
}
