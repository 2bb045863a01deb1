//! The apply rules, the cursor and the outbox on an in-memory replica, without a server.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sync_core::protocol::{Ack, Nack, NackStatus, OutcomeKind, Reason};
use sync_core::store::sqlite::Synchronous;
use sync_core::version::Version;
use sync_core::{Registry, Syncable, TenantId};

use super::apply::{self, Remote};
use super::settle::{self, Answer, RetryPolicy};
use super::{Replica, local, meta};
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::outbox::{self, BatchLimits, Sent, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(entity = "Note", table = "notes")]
struct Note {
    #[sync(id)]
    id: String,
    text: String,
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

struct Fixture {
    replica: Replica,
    clock: Clock,
}

async fn fixture() -> Fixture {
    let registry = Registry::builder().entity::<Note>().build().unwrap();
    let tenant = TenantId::new("t").unwrap();
    let (replica, _) = Replica::open(None, registry, Synchronous::Off, &tenant)
        .await
        .unwrap();
    Fixture {
        replica,
        clock: Clock::new(0),
    }
}

fn note(id: &str, text: &str, at: &str) -> Json {
    json!({ "id": id, "text": text, "updated_at": at })
}

impl Fixture {
    /// A `data_update` of `data` at `seq`; whether it changed the replica.
    async fn update(&self, data: Json, seq: u64) -> bool {
        let mut conn = self.replica.lock().await.unwrap();
        let remote = Remote {
            entity_type: "Note",
            deleted: false,
            data: &data,
            seq,
        };
        apply::data_update(&mut conn, self.replica.tables(), remote)
            .await
            .unwrap()
            .0
            .is_some()
    }

    /// A page of `(data, deleted, seq)` states; whether it changed the replica.
    async fn remote_page(&self, states: &[(Json, bool, u64)], cursor: u64) -> bool {
        let mut conn = self.replica.lock().await.unwrap();
        let remotes: Vec<Remote<'_>> = states
            .iter()
            .map(|(data, deleted, seq)| Remote {
                entity_type: "Note",
                deleted: *deleted,
                data,
                seq: *seq,
            })
            .collect();
        !apply::page(&mut conn, self.replica.tables(), &remotes, cursor)
            .await
            .unwrap()
            .0
            .is_empty()
    }

    /// A `data_update` of a tombstone at `seq`.
    async fn remote_delete(&self, data: Json, seq: u64) {
        let mut conn = self.replica.lock().await.unwrap();
        let remote = Remote {
            entity_type: "Note",
            deleted: true,
            data: &data,
            seq,
        };
        apply::data_update(&mut conn, self.replica.tables(), remote)
            .await
            .unwrap();
    }

    async fn text(&self, id: &str) -> Option<String> {
        let mut conn = self.replica.lock().await.unwrap();
        let state = self
            .replica
            .tables()
            .get(&mut conn, "Note", id)
            .await
            .unwrap()?;
        (!state.deleted).then(|| state.data["text"].as_str().unwrap().to_owned())
    }

    async fn seq(&self, id: &str) -> u64 {
        let mut conn = self.replica.lock().await.unwrap();
        self.replica
            .tables()
            .get(&mut conn, "Note", id)
            .await
            .unwrap()
            .unwrap()
            .seq
    }

    async fn cursor(&self) -> u64 {
        meta::cursor(&mut self.replica.lock().await.unwrap())
            .await
            .unwrap()
    }

    async fn put(&self, id: &str, text: &str) {
        let mut conn = self.replica.lock().await.unwrap();
        let handler = self.replica.registry().get("Note").unwrap();
        let note: Note =
            serde_json::from_value(json!({ "id": id, "text": text, "updated_at": null })).unwrap();
        local::put(
            &mut conn,
            self.replica.tables(),
            &self.clock,
            handler,
            &note,
            0,
        )
        .await
        .unwrap();
    }

    async fn delete(&self, id: &str) {
        let mut conn = self.replica.lock().await.unwrap();
        let handler = self.replica.registry().get("Note").unwrap();
        local::delete(
            &mut conn,
            self.replica.tables(),
            &self.clock,
            handler,
            id,
            0,
        )
        .await
        .unwrap();
    }

    async fn outbox(&self) -> Vec<outbox::Entry> {
        outbox::list(&mut self.replica.lock().await.unwrap(), None)
            .await
            .unwrap()
    }

    /// Takes everything ready, as the connection task does before sending.
    async fn send(&self) -> Vec<Sent> {
        let limits = BatchLimits {
            max_entries: 100,
            max_bytes: 1 << 20,
        };
        let mut conn = self.replica.lock().await.unwrap();
        outbox::take(&mut conn, "t", limits, &HashSet::new(), i64::MAX)
            .await
            .unwrap()
            .entries
    }

    async fn settle(&self, sent: &[Sent], answers: &[Answer], floor: u64) -> settle::Settled {
        let policy = RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(2)),
            jitter_seed: 7,
        };
        let mut conn = self.replica.lock().await.unwrap();
        settle::settle(
            &mut conn,
            self.replica.tables(),
            sent,
            answers,
            floor,
            policy,
            0,
        )
        .await
        .unwrap()
    }
}

fn applied(entry: &Sent, cursor: u64) -> Answer {
    Answer::Ack(Ack {
        id: entry.id.clone(),
        outcome: OutcomeKind::Applied,
        updated_at: Some(entry.version).map(|version| version.to_string()),
        cursor: Some(cursor),
        data: None,
        seq: None,
        deleted: None,
        ..Ack::default()
    })
}

fn refused(entry: &Sent) -> Answer {
    Answer::Nack(Nack {
        id: entry.id.clone(),
        status: NackStatus::Failed,
        entity_id: entry.entity_id.clone(),
        entity_type: entry.entity_type.clone(),
        operation_type: String::new(),
        reason: Reason::ValidationError,
        detail: "text: bad".into(),
        retryable: Some(false),
    })
}

#[tokio::test]
async fn remote_states_apply_in_sequence_order() {
    let replica = fixture().await;
    assert!(
        replica
            .update(note("n", "second", "2026-03-01T10:00:02Z"), 2)
            .await
    );
    assert!(
        !replica
            .update(note("n", "first", "2026-03-01T10:00:01Z"), 1)
            .await,
        "an older sequence number is stale"
    );
    assert!(
        !replica
            .update(note("n", "second", "2026-03-01T10:00:02Z"), 2)
            .await,
        "a repeat changes nothing"
    );
    assert_eq!(replica.text("n").await.as_deref(), Some("second"));
}

#[tokio::test]
async fn the_cursor_moves_with_updates_that_follow_it_and_with_pages() {
    let replica = fixture().await;
    replica
        .update(note("a", "a", "2026-03-01T10:00:00Z"), 1)
        .await;
    assert_eq!(replica.cursor().await, 1);
    replica
        .update(note("c", "c", "2026-03-01T10:00:00Z"), 3)
        .await;
    assert_eq!(replica.cursor().await, 1, "2 is missing: the cursor waits");
    assert_eq!(
        replica.text("c").await.as_deref(),
        Some("c"),
        "the row is applied all the same"
    );

    let data = note("b", "b", "2026-03-01T10:00:00Z");
    let page = [Remote {
        entity_type: "Note",
        deleted: false,
        data: &data,
        seq: 2,
    }];
    let mut conn = replica.replica.lock().await.unwrap();
    let (events, cursor) = apply::page(&mut conn, replica.replica.tables(), &page, 3)
        .await
        .unwrap();
    assert_eq!((events.len(), cursor), (1, 3));
}

#[tokio::test]
async fn a_local_change_waiting_for_its_answer_holds_incoming_changes_back() {
    let replica = fixture().await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    replica.put("n", "mine").await;
    assert!(
        !replica
            .update(note("n", "someone else", "2099-01-01T00:00:00Z"), 2)
            .await
    );
    assert_eq!(replica.text("n").await.as_deref(), Some("mine"));

    // Refused for good: the entry fails, and no longer holds the server's changes back.
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 2).await;
    assert_eq!(replica.outbox().await[0].status, Status::Failed);
    assert!(
        replica
            .update(note("n", "later", "2026-03-01T10:00:01Z"), 3)
            .await,
        "a failed edit does not block"
    );
    assert_eq!(replica.text("n").await.as_deref(), Some("later"));
}

#[tokio::test]
async fn discarding_a_refused_edit_restores_the_latest_server_state() {
    let replica = fixture().await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    replica.put("n", "mine").await;
    // Held back while the edit waited, but remembered as the entity's base.
    replica
        .update(note("n", "server, later", "2026-03-01T10:00:01Z"), 2)
        .await;
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 2).await;
    assert_eq!(replica.text("n").await.as_deref(), Some("mine"));

    let mut conn = replica.replica.lock().await.unwrap();
    let (count, events) = local::discard_failed(&mut conn, replica.replica.tables())
        .await
        .unwrap();
    drop(conn);
    assert_eq!((count, events.len()), (1, 1));
    assert_eq!(replica.text("n").await.as_deref(), Some("server, later"));
    assert_eq!(replica.seq("n").await, 2);
}

#[tokio::test]
async fn a_create_deleted_before_it_was_sent_leaves_nothing() {
    let replica = fixture().await;
    replica.put("n", "draft").await;
    replica.put("n", "draft 2").await;
    assert_eq!(replica.outbox().await.len(), 1);
    replica.delete("n").await;
    assert!(replica.outbox().await.is_empty());
    let mut conn = replica.replica.lock().await.unwrap();
    assert_eq!(
        replica
            .replica
            .tables()
            .get(&mut conn, "Note", "n")
            .await
            .unwrap(),
        None,
        "not even a tombstone"
    );
}

#[tokio::test]
async fn an_entry_that_was_sent_is_never_rewritten() {
    let replica = fixture().await;
    replica.put("n", "first").await;
    let sent = replica.send().await;
    replica.put("n", "second").await;
    let outbox = replica.outbox().await;
    assert_eq!(outbox.len(), 2, "a new entry, not a rewrite: {outbox:?}");
    assert_eq!(
        (outbox[0].id.as_str(), outbox[0].status),
        (sent[0].id.as_str(), Status::Processing)
    );
    assert_eq!(outbox[1].status, Status::Pending);
    assert!(
        outbox[1].version > outbox[0].version,
        "the edit is newer than the one it edits"
    );
}

#[tokio::test]
async fn acknowledged_changes_take_their_exact_sequence_numbers_when_nothing_came_between() {
    let replica = fixture().await;
    replica.put("a", "a").await;
    replica.put("b", "b").await;
    let sent = replica.send().await;
    let settled = replica
        .settle(&sent, &[applied(&sent[0], 2), applied(&sent[1], 2)], 0)
        .await;
    assert_eq!(settled.cursor, Some(2));
    assert_eq!(
        (
            replica.seq("a").await,
            replica.seq("b").await,
            replica.cursor().await
        ),
        (1, 2, 2)
    );

    // Another client's change was committed in between: only lower bounds are known.
    replica.put("c", "c").await;
    let sent = replica.send().await;
    let settled = replica.settle(&sent, &[applied(&sent[0], 4)], 2).await;
    assert_eq!(settled.cursor, None);
    assert_eq!((replica.seq("c").await, replica.cursor().await), (3, 2));
    // The change in between arrives later and is applied; the stale one it follows is not.
    assert!(
        replica
            .update(note("x", "x", "2026-03-01T10:00:00Z"), 3)
            .await
    );
    let stale = json!({ "id": "c", "text": "older", "updated_at": Version::MIN.to_string() });
    assert!(
        !replica.update(stale, 4).await,
        "an older version than the acknowledged one is stale"
    );

    // A server that sends each change's own sequence number leaves nothing to guess.
    replica.put("d", "d").await;
    let sent = replica.send().await;
    let exact = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Applied,
        updated_at: Some(sent[0].version).map(|version| version.to_string()),
        cursor: Some(7),
        data: None,
        seq: Some(6),
        deleted: None,
        ..Ack::default()
    });
    replica.settle(&sent, &[exact], 2).await;
    assert_eq!(replica.seq("d").await, 6);
}

#[tokio::test]
async fn a_superseded_ack_that_says_deleted_needs_no_guess() {
    let replica = fixture().await;
    replica.put("gone", "mine").await;
    let sent = replica.send().await;
    // A winner with more than id and version, yet a tombstone: the flag decides.
    let winner = note("gone", "last text", "2099-01-01T00:00:00Z");
    let answer = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Superseded,
        updated_at: Version::parse("2099-01-01T00:00:00Z")
            .ok()
            .map(|version| version.to_string()),
        cursor: Some(9),
        data: Some(winner),
        seq: Some(8),
        deleted: Some(true),
        ..Ack::default()
    });
    replica.settle(&sent, &[answer], 5).await;
    assert_eq!(
        replica.text("gone").await,
        None,
        "the winner is a tombstone"
    );
    assert_eq!(
        replica.seq("gone").await,
        8,
        "at the winner's own sequence number"
    );
}

#[tokio::test]
async fn a_superseded_change_takes_the_winner_a_live_row_or_a_tombstone() {
    let replica = fixture().await;
    replica.put("live", "mine").await;
    replica.put("dead", "mine").await;
    let sent = replica.send().await;
    let winner = note("live", "theirs", "2099-01-01T00:00:00Z");
    let tombstone = json!({ "id": "dead", "updated_at": "2099-01-01T00:00:00.000Z" });
    let superseded = |entry: &Sent, data: Json, deleted: bool| {
        Answer::Ack(Ack {
            id: entry.id.clone(),
            outcome: OutcomeKind::Superseded,
            updated_at: Version::parse("2099-01-01T00:00:00Z")
                .ok()
                .map(|version| version.to_string()),
            cursor: Some(7),
            data: Some(data),
            seq: None,
            deleted: Some(deleted),
            ..Ack::default()
        })
    };
    let settled = replica
        .settle(
            &sent,
            &[
                superseded(&sent[0], winner, false),
                superseded(&sent[1], tombstone, true),
            ],
            5,
        )
        .await;
    assert_eq!(settled.events.len(), 2);
    assert_eq!(replica.text("live").await.as_deref(), Some("theirs"));
    assert_eq!(replica.text("dead").await, None);
    assert!(replica.outbox().await.is_empty());
}

/// A `duplicate` ACK as a server that predates current states in duplicates answers it:
/// the version the change was first stored with, nothing else.
fn duplicate_of_old(entry: &Sent, cursor: u64) -> Answer {
    Answer::Ack(Ack {
        id: entry.id.clone(),
        outcome: OutcomeKind::Duplicate,
        updated_at: Some(entry.version).map(|version| version.to_string()),
        cursor: Some(cursor),
        data: None,
        seq: None,
        deleted: None,
        ..Ack::default()
    })
}

fn version(text: &str) -> Option<Version> {
    Version::parse(text).ok()
}

/// The interleaving of issue 17 with a server that sends no state in a duplicate: the
/// change was applied, its ACK lost, another client renamed the entity, and the client's
/// catch-up held the rename back. The retry's `duplicate` settles the entity, and the
/// replica takes the rename it held back.
#[tokio::test]
async fn a_duplicate_without_state_settles_to_the_change_held_back() {
    let replica = fixture().await;
    replica.put("n", "mine").await;
    let sent = replica.send().await;
    assert!(
        !replica
            .update(note("n", "renamed", "2099-01-01T00:00:00Z"), 2)
            .await,
        "held back while the create waits"
    );
    assert_eq!(replica.cursor().await, 0);
    let settled = replica
        .settle(&sent, &[duplicate_of_old(&sent[0], 2)], 2)
        .await;
    assert_eq!(replica.text("n").await.as_deref(), Some("renamed"));
    assert_eq!(replica.seq("n").await, 2);
    assert_eq!(settled.events.len(), 1);
    assert!(replica.outbox().await.is_empty());
}

/// A current server's `duplicate` carries the current state when another change replaced
/// the retried one: the replica takes it in the same answer, nothing is sent again.
#[tokio::test]
async fn a_duplicate_with_the_current_state_takes_it() {
    let replica = fixture().await;
    replica.put("n", "mine").await;
    let sent = replica.send().await;
    let current = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Duplicate,
        updated_at: version("2099-01-01T00:00:00Z").map(|version| version.to_string()),
        cursor: Some(2),
        data: Some(note("n", "renamed", "2099-01-01T00:00:00.000Z")),
        seq: Some(2),
        deleted: Some(false),
        ..Ack::default()
    });
    replica.settle(&sent, &[current], 2).await;
    assert_eq!(replica.text("n").await.as_deref(), Some("renamed"));
    assert_eq!(replica.seq("n").await, 2);
    assert!(replica.outbox().await.is_empty(), "not sent again");

    // Without a state, the sequence number says the entity still holds the change.
    replica.put("m", "mine").await;
    let sent = replica.send().await;
    let own = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Duplicate,
        updated_at: Some(sent[0].version).map(|version| version.to_string()),
        cursor: Some(3),
        data: None,
        seq: Some(3),
        deleted: None,
        ..Ack::default()
    });
    replica.settle(&sent, &[own], 3).await;
    assert_eq!(
        (replica.text("m").await.as_deref(), replica.seq("m").await),
        (Some("mine"), 3)
    );
    assert!(replica.outbox().await.is_empty());
}

/// A newer change of another client can arrive before the ACK of ours (the two travel
/// different paths on the server): held back, then taken once the ACK settles the entity.
#[tokio::test]
async fn an_applied_change_settles_to_a_newer_change_held_back() {
    let replica = fixture().await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    replica.put("n", "mine").await;
    let sent = replica.send().await;
    replica
        .update(note("n", "theirs", "2099-01-01T00:00:00Z"), 3)
        .await;
    let ack = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Applied,
        updated_at: Some(sent[0].version).map(|version| version.to_string()),
        cursor: Some(3),
        data: None,
        seq: Some(2),
        deleted: None,
        ..Ack::default()
    });
    replica.settle(&sent, &[ack], 1).await;
    assert_eq!(replica.text("n").await.as_deref(), Some("theirs"));
    assert_eq!(replica.seq("n").await, 3);

    // A state held back that is older than the acknowledged change is not taken.
    replica.put("n", "mine again").await;
    let sent = replica.send().await;
    replica
        .update(note("n", "stale", "2099-01-01T00:00:00.001Z"), 4)
        .await;
    let ack = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Applied,
        updated_at: Some(sent[0].version).map(|version| version.to_string()),
        cursor: Some(5),
        data: None,
        seq: Some(5),
        deleted: None,
        ..Ack::default()
    });
    replica.settle(&sent, &[ack], 3).await;
    assert_eq!(replica.text("n").await.as_deref(), Some("mine again"));
    assert_eq!(replica.seq("n").await, 5);
}

/// A `superseded` ACK names the winner at the time of the change; a newer state held back
/// meanwhile is what the server holds now.
#[tokio::test]
async fn a_superseded_change_settles_to_the_newest_of_winner_and_held_back() {
    let replica = fixture().await;
    replica.put("n", "mine").await;
    let sent = replica.send().await;
    replica
        .update(note("n", "newest", "2099-01-02T00:00:00Z"), 4)
        .await;
    let superseded = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Superseded,
        updated_at: version("2099-01-01T00:00:00Z").map(|version| version.to_string()),
        cursor: Some(4),
        data: Some(note("n", "winner", "2099-01-01T00:00:00.000Z")),
        seq: Some(3),
        deleted: Some(false),
        ..Ack::default()
    });
    replica.settle(&sent, &[superseded], 2).await;
    assert_eq!(replica.text("n").await.as_deref(), Some("newest"));
    assert_eq!(replica.seq("n").await, 4);
}

/// A pending delete holds back a newer re-creation; the delete's duplicate settles the
/// entity to it.
#[tokio::test]
async fn a_pending_delete_settles_to_a_re_creation_held_back() {
    let replica = fixture().await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    replica.delete("n").await;
    let sent = replica.send().await;
    replica
        .update(note("n", "re-created", "2099-01-01T00:00:00Z"), 3)
        .await;
    assert_eq!(replica.text("n").await, None, "held back");
    replica
        .settle(&sent, &[duplicate_of_old(&sent[0], 3)], 3)
        .await;
    assert_eq!(replica.text("n").await.as_deref(), Some("re-created"));
}

/// A change held back while an entry waited, and a newer local edit queued after it: the
/// first entry's ACK hands what the server holds on to the edit, so discarding the edit
/// when it fails restores the server's state, not the first local one.
#[tokio::test]
async fn what_the_server_holds_passes_to_the_next_waiting_edit_and_survives_its_discard() {
    let replica = fixture().await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    replica.put("n", "first").await;
    let first = replica.send().await;
    replica
        .update(note("n", "theirs", "2099-01-01T00:00:00Z"), 3)
        .await;
    replica.put("n", "second").await;
    replica
        .settle(&first, &[duplicate_of_old(&first[0], 3)], 3)
        .await;
    assert_eq!(
        replica.text("n").await.as_deref(),
        Some("second"),
        "the waiting edit stays"
    );

    let second = replica.send().await;
    replica.settle(&second, &[refused(&second[0])], 3).await;
    let mut conn = replica.replica.lock().await.unwrap();
    local::discard_failed(&mut conn, replica.replica.tables())
        .await
        .unwrap();
    drop(conn);
    assert_eq!(replica.text("n").await.as_deref(), Some("theirs"));
    assert_eq!(replica.seq("n").await, 3);
}

/// Two failed edits with a server state applied between them (a failed edit does not hold
/// incoming changes back): discarding both restores that server state, not the one before
/// the first edit.
#[tokio::test]
async fn discarding_failed_edits_restores_the_newest_server_state_they_recorded() {
    let replica = fixture().await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    replica.put("n", "refused once").await;
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 1).await;
    assert!(
        replica
            .update(note("n", "server, later", "2026-03-01T10:00:01Z"), 2)
            .await
    );
    replica.put("n", "refused twice").await;
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 2).await;

    let mut conn = replica.replica.lock().await.unwrap();
    let (count, _) = local::discard_failed(&mut conn, replica.replica.tables())
        .await
        .unwrap();
    drop(conn);
    assert_eq!(count, 2);
    assert_eq!(replica.text("n").await.as_deref(), Some("server, later"));
    assert_eq!(replica.seq("n").await, 2);

    // A refused create edited and refused again: nothing of either remains.
    replica.put("c", "refused create").await;
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 2).await;
    replica.put("c", "refused edit").await;
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 2).await;
    let mut conn = replica.replica.lock().await.unwrap();
    local::discard_failed(&mut conn, replica.replica.tables())
        .await
        .unwrap();
    drop(conn);
    assert_eq!(replica.text("c").await, None);
    assert!(replica.outbox().await.is_empty());
}

/// A refused edit no longer holds incoming changes back, so a server state replaces it;
/// retried and applied, the edit is what the server holds, and the replica takes it back.
#[tokio::test]
async fn a_failed_edit_retried_and_applied_is_what_the_replica_holds() {
    let replica = fixture().await;
    replica.put("n", "mine").await;
    let sent = replica.send().await;
    replica.settle(&sent, &[refused(&sent[0])], 0).await;
    replica
        .update(note("n", "server", "2026-03-01T10:00:00Z"), 1)
        .await;
    assert_eq!(replica.text("n").await.as_deref(), Some("server"));

    outbox::retry_failed(&mut replica.replica.lock().await.unwrap())
        .await
        .unwrap();
    let sent = replica.send().await;
    let ack = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Applied,
        updated_at: Some(sent[0].version).map(|version| version.to_string()),
        cursor: Some(2),
        data: None,
        seq: Some(2),
        deleted: None,
        ..Ack::default()
    });
    replica.settle(&sent, &[ack], 1).await;
    assert_eq!(replica.text("n").await.as_deref(), Some("mine"));
    assert_eq!(replica.seq("n").await, 2);
}

/// Simulation seed 5499: an offline delete, a newer live state held back, the batch's
/// answers lost with the connection, a newer tombstone held back on the next connection,
/// and the retry answered `duplicate` with that tombstone. The entity ends deleted.
#[tokio::test]
async fn a_retried_delete_answered_with_a_newer_tombstone_ends_deleted() {
    let replica = fixture().await;
    replica.put("a1", "created").await;
    let sent = replica.send().await;
    replica.settle(&sent, &[applied(&sent[0], 2)], 1).await;
    assert_eq!(replica.seq("a1").await, 2);

    replica.delete("a1").await;
    // Another client's later edit arrives while the delete waits: held back, twice.
    let theirs = note("a1", "c0-18", "2099-01-01T00:00:00.614Z");
    assert!(!replica.update(theirs.clone(), 10).await);
    assert!(!replica.remote_page(&[(theirs, false, 10)], 10).await);
    // The batch goes out and its answers are lost with the connection.
    let first = replica.send().await;
    outbox::requeue_processing(&mut replica.replica.lock().await.unwrap(), 10)
        .await
        .unwrap();
    // A third client deletes it (seq 12); the next connection's page holds the tombstone.
    let tombstone = json!({ "id": "a1", "updated_at": "2099-01-01T00:00:00.614Z" });
    assert!(
        !replica
            .remote_page(&[(tombstone.clone(), true, 12)], 13)
            .await
    );
    let retried = replica.send().await;
    assert_eq!(retried[0].id, first[0].id, "the same change, retried");
    let duplicate = Answer::Ack(Ack {
        id: retried[0].id.clone(),
        outcome: OutcomeKind::Duplicate,
        updated_at: Some("2099-01-01T00:00:00.614Z".into()),
        cursor: Some(14),
        seq: Some(12),
        data: Some(tombstone.clone()),
        deleted: Some(true),
        ..Ack::default()
    });
    // The stale data_update of the tombstone arrives before the batch settles.
    replica.remote_delete(tombstone, 12).await;
    replica.settle(&retried, &[duplicate], 13).await;
    assert_eq!(replica.text("a1").await, None, "the entity ends deleted");
    assert_eq!(replica.seq("a1").await, 12);
    assert!(replica.outbox().await.is_empty());
}

/// Simulation seed 5499, the client that deleted: its delete carries the same version as
/// another client's edit that it held back while the delete waited; the server applies
/// the delete (equal versions: the later arrival wins), and the replica must end deleted.
#[tokio::test]
async fn a_delete_applied_over_an_edit_of_the_same_version_ends_deleted() {
    let replica = fixture().await;
    // The entity, last written far ahead of this client's clock.
    assert!(
        replica
            .update(note("a1", "c0-3", "2099-01-01T00:00:00.613Z"), 8)
            .await
    );
    replica.delete("a1").await;
    let sent = replica.send().await;
    assert_eq!(
        sent[0].version,
        Version::parse("2099-01-01T00:00:00.614Z").unwrap(),
        "a local write is newer than the row it replaces"
    );
    // Another client's edit, at the very same version, is held back.
    assert!(
        !replica
            .update(note("a1", "c0-18", "2099-01-01T00:00:00.614Z"), 10)
            .await
    );
    let ack = Answer::Ack(Ack {
        id: sent[0].id.clone(),
        outcome: OutcomeKind::Applied,
        updated_at: Some("2099-01-01T00:00:00.614Z".into()),
        cursor: Some(12),
        seq: Some(12),
        ..Ack::default()
    });
    replica.settle(&sent, &[ack], 10).await;
    assert_eq!(
        replica.text("a1").await,
        None,
        "the delete was applied last"
    );
    assert_eq!(replica.seq("a1").await, 12);
    replica
        .remote_delete(
            json!({ "id": "a1", "updated_at": "2099-01-01T00:00:00.614Z" }),
            12,
        )
        .await;
    assert_eq!(replica.text("a1").await, None);
}

/// Simulation seed 5499 (10,000-seed run): a delete in flight, then a re-creation that is
/// deleted again before it is sent. The unsent create must not cancel out to the server's
/// state held back meanwhile (another client's edit of the same version as the delete):
/// that made the replica keep the edit while the server applied the delete.
#[tokio::test]
async fn deleting_an_unsent_re_creation_behind_a_delete_in_flight_keeps_the_delete() {
    let replica = fixture().await;
    assert!(
        replica
            .update(note("a1", "c0-3", "2099-01-01T00:00:00.613Z"), 8)
            .await
    );
    replica.delete("a1").await;
    let in_flight = replica.send().await;
    replica.put("a1", "c2-25").await;
    assert!(
        !replica
            .update(note("a1", "c0-18", "2099-01-01T00:00:00.614Z"), 10)
            .await,
        "held back behind the local edits"
    );
    replica.delete("a1").await;
    assert_eq!(replica.text("a1").await, None, "deleted locally");
    let pending: Vec<_> = replica
        .outbox()
        .await
        .into_iter()
        .filter(|entry| entry.status == Status::Pending)
        .collect();
    assert_eq!(
        pending.len(),
        1,
        "the re-creation became a delete: {pending:?}"
    );

    let ack = |entry: &Sent, seq: u64| {
        Answer::Ack(Ack {
            id: entry.id.clone(),
            outcome: OutcomeKind::Applied,
            updated_at: Some(entry.version.to_string()),
            cursor: Some(seq),
            seq: Some(seq),
            ..Ack::default()
        })
    };
    replica
        .settle(&in_flight, &[ack(&in_flight[0], 12)], 10)
        .await;
    assert_eq!(replica.text("a1").await, None);
    let second = replica.send().await;
    replica.settle(&second, &[ack(&second[0], 13)], 12).await;
    assert_eq!(replica.text("a1").await, None, "the entity ends deleted");
    assert!(replica.outbox().await.is_empty());
}
