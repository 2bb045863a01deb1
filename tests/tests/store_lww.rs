//! Every last-write-wins and operation rule of DESIGN.md §5, one row each.

mod common;

use common::{at, delete, store_tests, tenant, update, upsert};
use serde_json::json;
use sync_core::change::{Change, Operation};
use sync_core::outcome::{Outcome, OutcomeKind, Reason};
use sync_core::store::Store;
use sync_core::version::Version;

/// What a case expects of the change under test.
#[derive(Debug)]
enum Expect {
    Applied,
    Superseded,
    Duplicate(OutcomeKind),
    Rejected(Reason, &'static str),
}

/// What the store must hold for the entity afterwards.
#[derive(Debug)]
enum Stored {
    Live { name: &'static str, minutes: i64 },
    Tombstone { minutes: i64 },
    Absent,
}

struct Case {
    name: &'static str,
    before: Vec<Change>,
    change: Change,
    expect: Expect,
    stored: Stored,
}

fn cases() -> Vec<Case> {
    use Expect::*;
    use Stored::*;
    let create = |cid: &str, name: &str, minutes| {
        upsert(cid, Operation::Create, "a1", name, Some(&at(minutes)))
    };
    vec![
        Case {
            name: "create on nothing",
            before: vec![],
            change: create("c1", "new", 1),
            expect: Applied,
            stored: Live {
                name: "new",
                minutes: 1,
            },
        },
        Case {
            name: "update of a missing id is an upsert",
            before: vec![],
            change: update("c1", "a1", "upserted", &at(1)),
            expect: Applied,
            stored: Live {
                name: "upserted",
                minutes: 1,
            },
        },
        Case {
            name: "create on an existing id, newer, is an update",
            before: vec![create("c0", "old", 1)],
            change: create("c1", "newer", 2),
            expect: Applied,
            stored: Live {
                name: "newer",
                minutes: 2,
            },
        },
        Case {
            name: "create on an existing id, older, loses",
            before: vec![create("c0", "stored", 2)],
            change: create("c1", "older", 1),
            expect: Superseded,
            stored: Live {
                name: "stored",
                minutes: 2,
            },
        },
        Case {
            name: "newer update wins",
            before: vec![update("c0", "a1", "old", &at(1))],
            change: update("c1", "a1", "newer", &at(2)),
            expect: Applied,
            stored: Live {
                name: "newer",
                minutes: 2,
            },
        },
        Case {
            name: "older update loses",
            before: vec![update("c0", "a1", "stored", &at(2))],
            change: update("c1", "a1", "older", &at(1)),
            expect: Superseded,
            stored: Live {
                name: "stored",
                minutes: 2,
            },
        },
        Case {
            name: "equal versions: the later arrival wins",
            before: vec![update("c0", "a1", "first", &at(1))],
            change: update("c1", "a1", "second", &at(1)),
            expect: Applied,
            stored: Live {
                name: "second",
                minutes: 1,
            },
        },
        Case {
            name: "a retry is a duplicate and applies nothing",
            before: vec![update("c1", "a1", "original", &at(1))],
            change: update("c1", "a1", "changed in retry", &at(5)),
            expect: Duplicate(OutcomeKind::Applied),
            stored: Live {
                name: "original",
                minutes: 1,
            },
        },
        Case {
            name: "a retry of a superseded change keeps that outcome",
            before: vec![
                update("c0", "a1", "stored", &at(2)),
                update("c1", "a1", "older", &at(1)),
            ],
            change: update("c1", "a1", "older", &at(1)),
            expect: Duplicate(OutcomeKind::Superseded),
            stored: Live {
                name: "stored",
                minutes: 2,
            },
        },
        Case {
            name: "delete leaves a tombstone",
            before: vec![update("c0", "a1", "doomed", &at(1))],
            change: delete("c1", "a1", Some(&at(2))),
            expect: Applied,
            stored: Tombstone { minutes: 2 },
        },
        Case {
            name: "delete of a missing id leaves a tombstone",
            before: vec![],
            change: delete("c1", "a1", Some(&at(2))),
            expect: Applied,
            stored: Tombstone { minutes: 2 },
        },
        Case {
            name: "deleting twice is acknowledged twice",
            before: vec![
                update("c0", "a1", "x", &at(1)),
                delete("c1", "a1", Some(&at(2))),
            ],
            change: delete("c2", "a1", Some(&at(3))),
            expect: Applied,
            stored: Tombstone { minutes: 3 },
        },
        Case {
            name: "an older delete than the tombstone still acknowledges",
            before: vec![delete("c1", "a1", Some(&at(3)))],
            change: delete("c2", "a1", Some(&at(2))),
            expect: Superseded,
            stored: Tombstone { minutes: 3 },
        },
        Case {
            name: "an older update does not resurrect",
            before: vec![
                update("c0", "a1", "x", &at(1)),
                delete("c1", "a1", Some(&at(3))),
            ],
            change: update("c2", "a1", "zombie", &at(2)),
            expect: Superseded,
            stored: Tombstone { minutes: 3 },
        },
        Case {
            name: "an older create does not resurrect",
            before: vec![delete("c1", "a1", Some(&at(3)))],
            change: create("c2", "zombie", 2),
            expect: Superseded,
            stored: Tombstone { minutes: 3 },
        },
        Case {
            name: "a newer update revives",
            before: vec![
                update("c0", "a1", "x", &at(1)),
                delete("c1", "a1", Some(&at(3))),
            ],
            change: update("c2", "a1", "revived", &at(4)),
            expect: Applied,
            stored: Live {
                name: "revived",
                minutes: 4,
            },
        },
        Case {
            name: "an older delete loses to a live row",
            before: vec![update("c0", "a1", "kept", &at(3))],
            change: delete("c1", "a1", Some(&at(2))),
            expect: Superseded,
            stored: Live {
                name: "kept",
                minutes: 3,
            },
        },
        Case {
            name: "offsets are converted to UTC",
            before: vec![],
            change: update("c1", "a1", "offset", "2026-01-01T03:05:00+03:00"),
            expect: Applied,
            stored: Live {
                name: "offset",
                minutes: 5,
            },
        },
        Case {
            name: "naive times are read as UTC",
            before: vec![],
            change: update("c1", "a1", "naive", "2026-01-01T00:05:00"),
            expect: Applied,
            stored: Live {
                name: "naive",
                minutes: 5,
            },
        },
        Case {
            name: "entity types match ignoring case",
            before: vec![],
            change: Change {
                entity_type: "aCCOUNT".into(),
                ..update("c1", "a1", "cased", &at(1))
            },
            expect: Applied,
            stored: Live {
                name: "cased",
                minutes: 1,
            },
        },
        Case {
            name: "a payload id other than entityId is refused",
            before: vec![],
            change: Change {
                entity_id: "other".into(),
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Rejected(Reason::PayloadMismatch, "entityId"),
            stored: Absent,
        },
        Case {
            name: "a delete whose payload names another id is refused",
            before: vec![update("c0", "a1", "kept", &at(1))],
            change: Change {
                payload: Some(json!({"id": "a2"})),
                ..delete("c1", "a1", None)
            },
            expect: Rejected(Reason::PayloadMismatch, "a2"),
            stored: Live {
                name: "kept",
                minutes: 1,
            },
        },
        Case {
            name: "an unknown entity type is refused",
            before: vec![],
            change: Change {
                entity_type: "Budget".into(),
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Rejected(Reason::UnknownEntity, "Budget"),
            stored: Absent,
        },
        Case {
            name: "a missing field is refused naming it",
            before: vec![],
            change: Change {
                payload: Some(json!({"id": "a1", "name": "x"})),
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Rejected(Reason::ValidationError, "balance"),
            stored: Absent,
        },
        Case {
            name: "a field of the wrong type is refused",
            before: vec![],
            change: Change {
                payload: Some(json!({"id": "a1", "name": 5, "balance": 1.0})),
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Rejected(Reason::ValidationError, "invalid type"),
            stored: Absent,
        },
        Case {
            name: "an unreadable updated_at is refused",
            before: vec![],
            change: update("c1", "a1", "x", "last tuesday"),
            expect: Rejected(Reason::ValidationError, "updated_at"),
            stored: Absent,
        },
        Case {
            name: "a create without a payload is refused",
            before: vec![],
            change: Change {
                payload: None,
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Rejected(Reason::ValidationError, "payload"),
            stored: Absent,
        },
        Case {
            name: "a payload that is not an object is refused",
            before: vec![],
            change: Change {
                payload: Some(json!([1, 2])),
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Rejected(Reason::ValidationError, "array"),
            stored: Absent,
        },
        Case {
            name: "an empty change id is refused",
            before: vec![],
            change: update("", "a1", "x", &at(1)),
            expect: Rejected(Reason::ValidationError, "change id"),
            stored: Absent,
        },
        Case {
            name: "an empty entity id is refused",
            before: vec![],
            change: Change {
                entity_id: String::new(),
                ..update("c1", "", "x", &at(1))
            },
            expect: Rejected(Reason::ValidationError, "entityId"),
            stored: Absent,
        },
        Case {
            name: "unknown payload fields are ignored",
            before: vec![],
            change: Change {
                payload: Some(
                    json!({"id": "a1", "name": "extra", "balance": 1.0, "image": "x.png", "createdAt": "2020", "updated_at": at(1)}),
                ),
                ..update("c1", "a1", "x", &at(1))
            },
            expect: Applied,
            stored: Live {
                name: "extra",
                minutes: 1,
            },
        },
    ]
}

store_tests! {
async fn every_rule_holds(fixture: Fixture) {
    let store = fixture.store.clone();
    let mut failures = Vec::new();
    for (index, case) in cases().into_iter().enumerate() {
        let tenant = tenant(&format!("case{index}"));
        for change in &case.before {
            let outcome = &store
                .apply(&tenant, std::slice::from_ref(change))
                .await
                .unwrap()
                .outcomes[0];
            assert!(
                outcome.kind().is_some(),
                "{}: setup change refused: {outcome:?}",
                case.name
            );
        }
        let before_cursor = store.cursor(&tenant).await.unwrap();
        let batch = store
            .apply(&tenant, std::slice::from_ref(&case.change))
            .await
            .unwrap();
        let outcome = &batch.outcomes[0];

        let outcome_ok = match (&case.expect, outcome) {
            (Expect::Applied, Outcome::Applied { effect, .. }) => effect.seq == before_cursor + 1,
            (Expect::Superseded, Outcome::Superseded { .. })
            | (Expect::Duplicate(_), Outcome::Duplicate { .. })
            | (Expect::Rejected(..), Outcome::Rejected(_)) => {
                batch.cursor == before_cursor
                    && match (&case.expect, outcome) {
                        (Expect::Duplicate(kind), Outcome::Duplicate { original, current }) => {
                            original.kind == *kind && current.is_some()
                        }
                        (Expect::Rejected(reason, detail), Outcome::Rejected(rejection)) => {
                            rejection.reason == *reason && rejection.detail.contains(detail)
                        }
                        _ => true,
                    }
            }
            _ => false,
        };
        if !outcome_ok {
            failures.push(format!(
                "{}: expected {:?}, got {outcome:?}",
                case.name, case.expect
            ));
            continue;
        }

        let state = store.get_state(&tenant, "Account", "a1").await.unwrap();
        let stored_ok = match (&case.stored, &state) {
            (Stored::Absent, None) => true,
            (Stored::Live { name, minutes }, Some(state)) => {
                !state.deleted
                    && state.data["name"] == *name
                    && state.version == Version::parse(&at(*minutes)).unwrap()
                    && state.data["updated_at"] == at(*minutes)
            }
            (Stored::Tombstone { minutes }, Some(state)) => {
                state.deleted && state.version == Version::parse(&at(*minutes)).unwrap()
            }
            _ => false,
        };
        if !stored_ok {
            failures.push(format!(
                "{}: expected {:?} stored, found {state:?}",
                case.name, case.stored
            ));
        }
        // A retry carries the entity's current state, which is exactly what is stored.
        if let Outcome::Duplicate { current, .. } = outcome
            && current != &state
        {
            failures.push(format!(
                "{}: duplicate's current {current:?} is not the stored {state:?}",
                case.name
            ));
        }
        // A superseded change tells the winner, which is exactly what is stored.
        if let (Outcome::Superseded { winner, .. }, Some(state)) = (outcome, &state)
            && winner != state
        {
            failures.push(format!(
                "{}: winner {winner:?} is not the stored {state:?}",
                case.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rule(s) broken:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn a_missing_version_takes_the_arrival_time(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let before = Version::now();
    let change = upsert("c1", Operation::Create, "a1", "no version", None);
    let batch = store.apply(&tenant, &[change]).await.unwrap();
    let after = Version::now();
    let Outcome::Applied {
        effect,
        clamped: false,
        merged: false,
    } = &batch.outcomes[0]
    else {
        panic!("{batch:?}")
    };
    assert!(before <= effect.version && effect.version <= after);
    assert_eq!(
        effect.data["updated_at"],
        effect.version.to_string(),
        "the stored version is never null"
    );
}

async fn a_version_far_in_the_future_is_clamped_and_reported(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let future = Version::now().add_millis(3_600_000).to_string();
    let batch = store
        .apply(&tenant, &[update("c1", "a1", "future", &future)])
        .await
        .unwrap();
    let after = Version::now();
    let Outcome::Applied { effect, clamped, .. } = &batch.outcomes[0] else {
        panic!("{batch:?}")
    };
    assert!(clamped);
    assert!(effect.version <= after, "clamped to the server's time");

    // Within the allowed skew a version is kept as sent.
    let near = Version::now().add_millis(60_000);
    let batch = store
        .apply(&tenant, &[update("c2", "a2", "near", &near.to_string())])
        .await
        .unwrap();
    let Outcome::Applied { effect, clamped, .. } = &batch.outcomes[0] else {
        panic!("{batch:?}")
    };
    assert!(!clamped);
    assert_eq!(effect.version, near);
}

async fn a_batch_commits_its_winners_and_reports_each_change_in_order(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let batch = vec![
        update("c1", "a1", "one", &at(1)),
        Change {
            entity_type: "Nope".into(),
            ..update("c2", "a2", "x", &at(1))
        },
        update("c3", "a3", "three", &at(1)),
        update("c3", "a3", "three again", &at(2)),
        update("c4", "a1", "older", &at(0)),
    ];
    let result = store.apply(&tenant, &batch).await.unwrap();
    let kinds: Vec<Option<OutcomeKind>> = result.outcomes.iter().map(Outcome::kind).collect();
    assert_eq!(
        kinds,
        [
            Some(OutcomeKind::Applied),
            None,
            Some(OutcomeKind::Applied),
            Some(OutcomeKind::Duplicate),
            Some(OutcomeKind::Superseded)
        ]
    );
    assert_eq!(result.cursor, 2, "one sequence number per applied change");
    let snapshot = store.snapshot(&tenant).await.unwrap();
    assert_eq!(snapshot.collections["accounts"].len(), 2);
    assert_eq!(snapshot.cursor, 2);
}

async fn sequence_numbers_follow_commit_order_under_concurrent_writers(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = store.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let mut cursors = Vec::new();
                for n in 0..20 {
                    let id = format!("w{writer}-{n}");
                    let batch = store
                        .apply(&tenant, &[update(&id, &id, "x", &at(1))])
                        .await
                        .unwrap();
                    cursors.push(batch.cursor);
                }
                cursors
            })
        })
        .collect();
    let mut all = Vec::new();
    for writer in writers {
        let cursors = writer.await.unwrap();
        assert!(
            cursors.windows(2).all(|pair| pair[0] < pair[1]),
            "each writer sees its cursor grow"
        );
        all.extend(cursors);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=160).collect::<Vec<u64>>(),
        "no sequence number is skipped or shared"
    );
}

async fn a_retry_answers_with_the_state_the_batch_left_before_it(fixture: Fixture) {
    let store = fixture.store.clone();
    let tenant = tenant("t");
    store
        .apply(&tenant, &[update("c1", "a1", "first", &at(1))])
        .await
        .unwrap();
    let batch = store
        .apply(
            &tenant,
            &[
                update("c2", "a1", "second", &at(2)),
                update("c1", "a1", "first", &at(1)),
                delete("c3", "a1", Some(&at(3))),
            ],
        )
        .await
        .unwrap();
    let Outcome::Duplicate { original, current } = &batch.outcomes[1] else {
        panic!("{batch:?}")
    };
    assert_eq!((original.kind, original.seq), (OutcomeKind::Applied, 1));
    let current = current.as_ref().expect("a1 is stored");
    assert_eq!(
        (current.data["name"].as_str(), current.seq, current.deleted),
        (Some("second"), 2, false),
        "decided against the batch's earlier change, not the later delete"
    );
    let stored = store.get_state(&tenant, "Account", "a1").await.unwrap();
    assert_eq!(
        stored.map(|state| (state.deleted, state.seq)),
        Some((true, 3)),
        "the entity is written once, with its last state and seq"
    );
}
}
