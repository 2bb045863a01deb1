//! The hold rules on an in-memory replica, driven by the server's messages without a
//! server.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sync_core::protocol::{
    BucketOp, BucketSnapshot, Checkpoint, StreamChange, StreamPage, Subscribed,
};
use sync_core::store::sqlite::Synchronous;
use sync_core::{Registry, Syncable, TenantId};

use super::apply::{self, Progress};
use super::holds::{self, Stored};
use crate::event::Event;
use crate::replica::Replica;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(entity = "Card", table = "cards")]
#[sync(stream(name = "by_board", by = board))]
struct Card {
    #[sync(id)]
    id: String,
    #[sync(index)]
    board: String,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

async fn replica() -> Replica {
    let registry = Registry::builder().entity::<Card>().build().unwrap();
    let tenant = TenantId::new("t").unwrap();
    Replica::open(None, registry, Synchronous::Off, &tenant)
        .await
        .unwrap()
        .0
}

fn card(id: &str, board: &str, second: u32) -> Json {
    json!({ "id": id, "board": board, "updated_at": format!("2026-01-01T00:00:{second:02}.000Z") })
}

fn change(op: BucketOp, bucket: &str, id: &str, seq: u64, data: Option<Json>) -> StreamChange {
    StreamChange {
        op,
        stream: "by_board".into(),
        bucket: bucket.into(),
        entity_type: "Card".into(),
        entity_id: id.into(),
        seq,
        data,
    }
}

impl Replica {
    async fn subscribe_to(&self, id: &str, keys: &[&str]) {
        let stored = Stored {
            id: id.into(),
            entity: "Card".into(),
            stream: "by_board".into(),
            keys: keys.iter().map(|key| (*key).to_owned()).collect(),
            buckets: None,
            definition: None,
            cursor: None,
            expires_at: None,
            error: None,
            created_at: 0,
        };
        apply::subscribe(&mut self.lock().await.unwrap(), &stored)
            .await
            .unwrap();
    }

    async fn page(&self, subscription: Option<&str>, changes: Vec<StreamChange>) -> Vec<String> {
        let page = StreamPage {
            subscription: subscription.map(str::to_owned),
            changes,
            has_more: false,
        };
        let events = apply::page(&mut self.lock().await.unwrap(), self.tables(), &page)
            .await
            .unwrap();
        events.iter().map(label).collect()
    }

    async fn ids(&self) -> Vec<String> {
        self.tables()
            .list(&mut self.lock().await.unwrap(), "Card")
            .await
            .unwrap()
            .into_iter()
            .map(|state| state.entity_id)
            .collect()
    }
}

/// An event as `+id` (an upsert), `-id` (a delete), `!id` (dropped edits) or
/// `@cursor:id,id` (a checkpoint and the subscriptions it moved).
fn label(event: &Event) -> String {
    match event {
        Event::Changed(changed) if changed.deleted => format!("-{}", changed.entity_id),
        Event::Changed(changed) => format!("+{}", changed.entity_id),
        Event::Dropped(dropped) => format!("!{}", dropped.entity_id),
        Event::Checkpoint(checkpoint) => format!(
            "@{}:{}",
            checkpoint.cursor,
            checkpoint
                .subscriptions
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn an_older_put_after_a_newer_leave_does_not_bring_the_row_back() {
    let replica = replica().await;
    replica.subscribe_to("s", &["A"]).await;
    assert_eq!(
        replica
            .page(
                None,
                vec![change(
                    BucketOp::Put,
                    "A",
                    "c1",
                    3,
                    Some(card("c1", "A", 3))
                )]
            )
            .await,
        ["+c1"]
    );
    // Live delivery of the move comes before the catch-up's older put.
    assert_eq!(
        replica
            .page(None, vec![change(BucketOp::Leave, "A", "c1", 5, None)])
            .await,
        ["-c1"]
    );
    let stale = replica
        .page(
            Some("s"),
            vec![change(
                BucketOp::Put,
                "A",
                "c1",
                4,
                Some(card("c1", "A", 4)),
            )],
        )
        .await;
    assert!(stale.is_empty(), "{stale:?}");
    assert!(replica.ids().await.is_empty());
    // A newer put does.
    assert_eq!(
        replica
            .page(
                None,
                vec![change(
                    BucketOp::Put,
                    "A",
                    "c1",
                    6,
                    Some(card("c1", "A", 6))
                )]
            )
            .await,
        ["+c1"]
    );
}

#[tokio::test]
async fn a_row_held_twice_stays_until_both_let_it_go_and_a_tombstone_ends_every_hold() {
    let replica = replica().await;
    replica.subscribe_to("narrow", &["A"]).await;
    replica.subscribe_to("wide", &["A", "B"]).await;
    replica
        .page(
            None,
            vec![
                change(BucketOp::Put, "A", "c1", 1, Some(card("c1", "A", 1))),
                change(BucketOp::Put, "B", "c2", 2, Some(card("c2", "B", 2))),
            ],
        )
        .await;
    let holds = holds::of_row(&mut replica.lock().await.unwrap(), "Card", "c1")
        .await
        .unwrap();
    assert_eq!(holds.len(), 2, "one row, two holds");
    assert_eq!(replica.ids().await, ["c1", "c2"]);

    let events = apply::unsubscribe(
        &mut replica.lock().await.unwrap(),
        replica.tables(),
        "wide",
        0,
        0,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(events.len(), 1, "c2 leaves, c1 stays: {events:?}");
    assert_eq!(replica.ids().await, ["c1"]);

    replica.subscribe_to("again", &["A"]).await;
    replica
        .page(
            Some("again"),
            vec![change(
                BucketOp::Put,
                "A",
                "c1",
                1,
                Some(card("c1", "A", 1)),
            )],
        )
        .await;
    assert_eq!(
        replica
            .page(None, vec![change(BucketOp::Tombstone, "A", "c1", 7, None)])
            .await,
        ["-c1"]
    );
    assert!(
        holds::of_row(&mut replica.lock().await.unwrap(), "Card", "c1")
            .await
            .unwrap()
            .iter()
            .all(|hold| !hold.held)
    );
}

#[tokio::test]
async fn a_reload_sweeps_only_what_it_did_not_hold_again() {
    let replica = replica().await;
    replica.subscribe_to("s", &["A"]).await;
    replica
        .page(
            Some("s"),
            vec![
                change(BucketOp::Put, "A", "c1", 1, Some(card("c1", "A", 1))),
                change(BucketOp::Put, "A", "c2", 2, Some(card("c2", "A", 2))),
            ],
        )
        .await;
    let mut progress = BTreeMap::new();
    let subscribed = Subscribed {
        id: "s".into(),
        stream: "by_board".into(),
        definition: "d2".into(),
        buckets: vec!["A".into()],
        cursor: 0,
    };
    let loading: Progress = apply::subscribed(&mut replica.lock().await.unwrap(), &subscribed)
        .await
        .unwrap()
        .unwrap();
    assert!(loading.loading);
    progress.insert("s".to_owned(), loading);
    let snapshot = BucketSnapshot {
        subscription: "s".into(),
        stream: "by_board".into(),
        bucket: "A".into(),
        entity_type: "Card".into(),
        cursor: 9,
        rows: vec![card("c1", "A", 1), card("c3", "A", 8)],
    };
    let events = apply::snapshot(
        &mut replica.lock().await.unwrap(),
        replica.tables(),
        &snapshot,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "c3 arrives; c1 is unchanged: {events:?}");
    assert_eq!(
        replica.ids().await,
        ["c1", "c2", "c3"],
        "nothing leaves before the checkpoint"
    );

    let checkpoint = Checkpoint {
        cursor: 9,
        subscription: Some("s".into()),
        pages: None,
    };
    let events = apply::checkpoint(
        &mut replica.lock().await.unwrap(),
        replica.tables(),
        &checkpoint,
        &progress,
    )
    .await
    .unwrap();
    assert_eq!(
        events.iter().map(label).collect::<Vec<_>>(),
        ["-c2", "@9:s"]
    );
    assert_eq!(replica.ids().await, ["c1", "c3"]);
    let stored = holds::get(&mut replica.lock().await.unwrap(), "s")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.cursor, stored.definition.as_deref()),
        (Some(9), Some("d2"))
    );
}

#[tokio::test]
async fn a_row_with_a_pending_edit_is_pinned_after_it_leaves() {
    let replica = replica().await;
    replica.subscribe_to("s", &["A"]).await;
    replica
        .page(
            Some("s"),
            vec![change(
                BucketOp::Put,
                "A",
                "c1",
                1,
                Some(card("c1", "A", 1)),
            )],
        )
        .await;
    {
        let mut conn = replica.lock().await.unwrap();
        let handler = replica.registry().get("Card").unwrap();
        let clock = crate::clock::Clock::new(0);
        let edit = Card {
            id: "c1".into(),
            board: "B".into(),
            updated_at: None,
        };
        crate::replica::local::put(&mut conn, replica.tables(), &clock, handler, &edit, 0)
            .await
            .unwrap();
    }
    assert!(
        replica
            .page(None, vec![change(BucketOp::Leave, "A", "c1", 2, None)])
            .await
            .is_empty()
    );
    assert_eq!(replica.ids().await, ["c1"], "pinned by its outbox entry");
}

#[tokio::test]
async fn an_edit_refused_as_forbidden_is_dropped_when_its_row_leaves_every_bucket() {
    let replica = replica().await;
    replica.subscribe_to("s", &["A"]).await;
    replica
        .page(
            Some("s"),
            vec![change(
                BucketOp::Put,
                "A",
                "c1",
                1,
                Some(card("c1", "A", 1)),
            )],
        )
        .await;
    {
        let mut conn = replica.lock().await.unwrap();
        let handler = replica.registry().get("Card").unwrap();
        let clock = crate::clock::Clock::new(0);
        let edit = Card {
            id: "c1".into(),
            board: "A".into(),
            updated_at: None,
        };
        crate::replica::local::put(&mut conn, replica.tables(), &clock, handler, &edit, 0)
            .await
            .unwrap();
        // Refused while the row was still held: an ordinary failure, kept for the app.
        let entry = crate::outbox::list(&mut conn, None)
            .await
            .unwrap()
            .remove(0);
        crate::outbox::fail(&mut conn, &entry.id, "forbidden", "not yours")
            .await
            .unwrap();
    }
    let removed = sync_core::protocol::BucketRemoved {
        subscription: "s".into(),
        stream: "by_board".into(),
        bucket: "A".into(),
        reason: sync_core::protocol::RemovedReason::Revoked,
        ttl_secs: None,
    };
    let events = apply::removed(
        &mut replica.lock().await.unwrap(),
        replica.tables(),
        &removed,
    )
    .await
    .unwrap();
    assert_eq!(events.iter().map(label).collect::<Vec<_>>(), ["-c1", "!c1"]);
    let Event::Dropped(dropped) = &events[1] else {
        unreachable!()
    };
    assert_eq!(
        (dropped.changes.len(), dropped.detail.as_str()),
        (1, "not yours")
    );
    assert!(replica.ids().await.is_empty());
    let outbox = crate::outbox::list(&mut replica.lock().await.unwrap(), None)
        .await
        .unwrap();
    assert!(outbox.is_empty());
}

#[tokio::test]
async fn an_applied_checkpoint_names_its_subscriptions_and_their_cursor() {
    let replica = replica().await;
    replica.subscribe_to("cards", &["A"]).await;
    replica.subscribe_to("late", &["B"]).await;
    let checkpoint = |cursor, subscription: Option<&str>| Checkpoint {
        cursor,
        subscription: subscription.map(str::to_owned),
        pages: Some(0),
    };
    let apply = async |checkpoint: Checkpoint, progress: &BTreeMap<String, Progress>| {
        let events = apply::checkpoint(
            &mut replica.lock().await.unwrap(),
            replica.tables(),
            &checkpoint,
            progress,
        )
        .await
        .unwrap();
        events.iter().map(label).collect::<Vec<_>>()
    };
    let caught_up = Progress {
        caught_up: true,
        ..Progress::default()
    };
    let mut progress = BTreeMap::from([
        ("cards".to_owned(), caught_up.clone()),
        ("late".to_owned(), Progress::default()),
    ]);

    // A catch-up's checkpoint moves the subscription it names, and says so.
    assert_eq!(
        apply(checkpoint(4, Some("cards")), &progress).await,
        ["@4:cards"]
    );
    // A live one moves every subscription caught up on the connection: not `late`, whose
    // catch-up is still running.
    assert_eq!(apply(checkpoint(6, None), &progress).await, ["@6:cards"]);
    assert_eq!(
        apply(checkpoint(5, Some("late")), &progress).await,
        ["@5:late"]
    );
    progress.insert("late".to_owned(), caught_up);
    // A live checkpoint names the subscriptions it moves and those already at its cursor
    // (consistent there again, after a change of two buckets); one behind every cursor
    // says nothing.
    assert_eq!(
        apply(checkpoint(6, None), &progress).await,
        ["@6:cards,late"]
    );
    assert!(apply(checkpoint(3, None), &progress).await.is_empty());
    assert_eq!(
        apply(checkpoint(8, None), &progress).await,
        ["@8:cards,late"]
    );
    let cursors: Vec<Option<u64>> = holds::list(&mut replica.lock().await.unwrap())
        .await
        .unwrap()
        .iter()
        .map(|stored| stored.cursor)
        .collect();
    assert_eq!(cursors, [Some(8), Some(8)]);
}
