//! Flushing the outbox: batches out, answers in, and the `sync_now` waiters.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use rand::RngCore;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Session;
use crate::connection::{Waiter, wire};
use crate::error::Result;
use crate::outbox::{self, BatchLimits, Sent};
use crate::replica::settle::{self, Answer, RetryPolicy};

/// Room left in a message for the batch's envelope.
const ENVELOPE_BYTES: usize = 256;

/// A batch waiting for its answers.
struct Batch {
    entries: Vec<Sent>,
    ids: HashSet<String>,
    answers: Vec<Answer>,
    /// The tenant cursor the client knew when it sent the batch.
    floor: u64,
    sent_at: Instant,
}

/// The outbox side of a session: the batches in flight and the entities they hold.
#[derive(Default)]
pub(super) struct Flush {
    in_flight: VecDeque<Batch>,
    /// The entities of the entries in flight: one entry per entity at a time.
    busy: HashSet<(String, String)>,
    /// The tenant cursor after the last settled batch of this session.
    last_batch_cursor: Option<u64>,
    /// When the earliest pending entry in backoff becomes ready.
    pub(super) ready_at: Option<Instant>,
}

impl Flush {
    /// When the oldest batch still waiting for answers was sent.
    pub(super) fn oldest_sent_at(&self) -> Option<Instant> {
        self.in_flight.front().map(|batch| batch.sent_at)
    }

    /// Whether no batch waits for answers.
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }
}

impl Session<'_> {
    pub(super) async fn on_answer(
        &mut self,
        answer: Answer,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        let Some(batch) = self
            .flush
            .in_flight
            .iter_mut()
            .find(|batch| batch.ids.contains(answer.id()))
        else {
            tracing::debug!(id = answer.id(), "an answer to no change in flight");
            return Ok(());
        };
        if batch.answers.iter().any(|known| known.id() == answer.id()) {
            // A repeated frame: the first answer of an entry is the one that counts.
            tracing::debug!(id = answer.id(), "a second answer to one change");
            return Ok(());
        }
        batch.answers.push(answer);
        let mut settled = false;
        while self
            .flush
            .in_flight
            .front()
            .is_some_and(|batch| batch.answers.len() >= batch.entries.len())
        {
            if let Some(batch) = self.flush.in_flight.pop_front() {
                self.settle(batch).await?;
                settled = true;
            }
        }
        if !settled {
            return Ok(());
        }
        if self.flush.in_flight.is_empty() {
            self.shared.synced();
        }
        self.fill().await?;
        self.check_waiters(waiters).await?;
        self.schedule_gap();
        Ok(())
    }

    async fn settle(&mut self, batch: Batch) -> Result<()> {
        let shared = self.shared;
        let config = &shared.config;
        let floor = batch.floor.max(self.flush.last_batch_cursor.unwrap_or(0));
        let policy = RetryPolicy {
            max_attempts: config.max_attempts,
            backoff: config.retry,
            jitter_seed: shared
                .jitter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next_u64(),
        };
        let settled = {
            let mut conn = shared.replica.lock().await?;
            let now = shared.local_ms();
            let settled = settle::settle(
                &mut conn,
                shared.replica.tables(),
                &batch.entries,
                &batch.answers,
                floor,
                policy,
                now,
            )
            .await?;
            shared.refresh_counts(&mut conn).await?;
            settled
        };
        shared.publish(settled.events);
        shared.publish_events(
            settled
                .dropped
                .into_iter()
                .map(crate::event::Event::Dropped),
        );
        if let Some(cursor) = settled.cursor {
            self.feed.cursor = cursor;
            shared.set_cursor(cursor);
        }
        if let Some(cursor) = settled.server_cursor {
            self.learn_cursor(cursor);
            self.flush.last_batch_cursor = Some(cursor);
        }
        for entry in batch.entries {
            self.flush
                .busy
                .remove(&(entry.entity_type, entry.entity_id));
        }
        Ok(())
    }

    /// Sends ready outbox entries, up to the in-flight bound.
    pub(super) async fn fill(&mut self) -> Result<()> {
        // After the catch-ups: an edit is answered against the buckets the replica holds
        // now (a row whose bucket was revoked meanwhile is known to be out of reach).
        if !self.greeting.greeted || !self.feed.caught_up || !self.streams.caught_up() {
            return Ok(());
        }
        let shared = self.shared;
        let config = &shared.config;
        let limits = BatchLimits {
            max_entries: config.batch_size.min(self.greeting.limits.max_batch).max(1),
            max_bytes: self
                .greeting
                .limits
                .max_message_bytes
                .saturating_sub(ENVELOPE_BYTES)
                .max(1),
        };
        while self.flush.in_flight.len() < config.max_in_flight.max(1) {
            let taken = {
                let mut conn = shared.replica.lock().await?;
                let now = shared.local_ms();
                let taken = outbox::take(
                    &mut conn,
                    shared.tenant.as_str(),
                    limits,
                    &self.flush.busy,
                    now,
                )
                .await?;
                if !taken.entries.is_empty() || taken.too_large > 0 {
                    shared.refresh_counts(&mut conn).await?;
                }
                taken
            };
            if taken.entries.is_empty() {
                break;
            }
            self.link.send(wire::batch(taken.wire));
            self.flush.busy.extend(
                taken
                    .entries
                    .iter()
                    .map(|entry| (entry.entity_type.clone(), entry.entity_id.clone())),
            );
            self.flush.in_flight.push_back(Batch {
                ids: taken.entries.iter().map(|entry| entry.id.clone()).collect(),
                entries: taken.entries,
                answers: Vec::new(),
                floor: self.feed.known_cursor,
                sent_at: Instant::now(),
            });
        }
        let next = outbox::next_ready(&mut *shared.replica.lock().await?).await?;
        let wait = next
            .map(|at| at - shared.local_ms())
            .filter(|wait| *wait > 0);
        self.flush.ready_at =
            wait.map(|wait| Instant::now() + Duration::from_millis(wait.unsigned_abs()));
        Ok(())
    }

    pub(super) async fn on_sync_now(
        &mut self,
        reply: oneshot::Sender<Result<()>>,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        outbox::force_ready(&mut *self.shared.replica.lock().await?).await?;
        waiters.push(Waiter { reply, round: None });
        self.resubscribe().await?;
        if self.greeting.greeted {
            if self.feed.rounds.requested_at.is_some() {
                self.feed.rounds.again = true;
            } else {
                self.start_round(waiters);
            }
        }
        self.fill().await
    }

    /// Answers the waiters whose round finished, if nothing is left to send.
    pub(super) async fn check_waiters(&mut self, waiters: &mut Vec<Waiter>) -> Result<()> {
        waiters.retain(|waiter| !waiter.reply.is_closed());
        let done = self.feed.rounds.done;
        if !waiters
            .iter()
            .any(|waiter| waiter.round.is_some_and(|round| round <= done))
            || !self.flush.in_flight.is_empty()
            || !self.streams.caught_up()
        {
            return Ok(());
        }
        let counts = outbox::counts(&mut *self.shared.replica.lock().await?).await?;
        if counts.pending > 0 || counts.processing > 0 {
            return Ok(());
        }
        let (ready, waiting): (Vec<Waiter>, Vec<Waiter>) = waiters
            .drain(..)
            .partition(|waiter| waiter.round.is_some_and(|round| round <= done));
        *waiters = waiting;
        for waiter in ready {
            waiter.answer(Ok(()));
        }
        Ok(())
    }
}
