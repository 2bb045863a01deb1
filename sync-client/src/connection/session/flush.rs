//! Flushing the outbox: batches out, answers in, and the `sync_now` waiters.

use std::time::Duration;

use sync_core::version::Version;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Batch, ENVELOPE_BYTES, Session};
use crate::connection::{Waiter, wire};
use crate::error::Result;
use crate::outbox::{self, BatchLimits};
use crate::replica::settle::{self, Answer, RetryPolicy};

impl Session<'_> {
    pub(super) async fn on_answer(
        &mut self,
        answer: Answer,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        let Some(batch) = self
            .in_flight
            .iter_mut()
            .find(|batch| batch.ids.contains(answer.id()))
        else {
            tracing::debug!(id = answer.id(), "an answer to no change in flight");
            return Ok(());
        };
        batch.answers.push(answer);
        let mut settled = false;
        while self
            .in_flight
            .front()
            .is_some_and(|batch| batch.answers.len() >= batch.entries.len())
        {
            if let Some(batch) = self.in_flight.pop_front() {
                self.settle(batch).await?;
                settled = true;
            }
        }
        if !settled {
            return Ok(());
        }
        if self.in_flight.is_empty() {
            self.shared.synced();
        }
        self.fill().await?;
        self.check_waiters(waiters).await?;
        self.schedule_gap();
        Ok(())
    }

    pub(super) async fn settle(&mut self, batch: Batch) -> Result<()> {
        let shared = self.shared;
        let config = &shared.config;
        let floor = batch.floor.max(self.last_batch_cursor.unwrap_or(0));
        let policy = RetryPolicy {
            max_attempts: config.max_attempts,
            backoff: config.retry,
        };
        let settled = {
            let mut conn = shared.replica.lock().await?;
            let now = Version::now().as_millis();
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
        if let Some(cursor) = settled.cursor {
            self.cursor = cursor;
            shared.set_cursor(cursor);
        }
        if let Some(cursor) = settled.server_cursor {
            self.learn_cursor(cursor);
            self.last_batch_cursor = Some(cursor);
        }
        for entry in batch.entries {
            self.busy.remove(&(entry.entity_type, entry.entity_id));
        }
        Ok(())
    }

    /// Sends ready outbox entries, up to the in-flight bound.
    pub(super) async fn fill(&mut self) -> Result<()> {
        if !self.greeted || !self.caught_up {
            return Ok(());
        }
        let shared = self.shared;
        let config = &shared.config;
        let limits = BatchLimits {
            max_entries: config.batch_size.min(self.limits.max_batch).max(1),
            max_bytes: self
                .limits
                .max_message_bytes
                .saturating_sub(ENVELOPE_BYTES)
                .max(1),
        };
        while self.in_flight.len() < config.max_in_flight.max(1) {
            let taken = {
                let mut conn = shared.replica.lock().await?;
                let now = Version::now().as_millis();
                let taken =
                    outbox::take(&mut conn, shared.tenant.as_str(), limits, &self.busy, now)
                        .await?;
                if !taken.entries.is_empty() || taken.too_large > 0 {
                    shared.refresh_counts(&mut conn).await?;
                }
                taken
            };
            if taken.entries.is_empty() {
                break;
            }
            self.send(wire::batch(taken.wire));
            self.busy.extend(
                taken
                    .entries
                    .iter()
                    .map(|entry| (entry.entity_type.clone(), entry.entity_id.clone())),
            );
            self.in_flight.push_back(Batch {
                ids: taken.entries.iter().map(|entry| entry.id.clone()).collect(),
                entries: taken.entries,
                answers: Vec::new(),
                floor: self.known_cursor,
                sent_at: Instant::now(),
            });
        }
        let next = outbox::next_ready(&mut *shared.replica.lock().await?).await?;
        let wait = next
            .map(|at| at - Version::now().as_millis())
            .filter(|wait| *wait > 0);
        self.ready_at =
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
        if self.greeted {
            if self.rounds.requested_at.is_some() {
                self.rounds.again = true;
            } else {
                self.start_round(waiters);
            }
        }
        self.fill().await
    }

    /// Answers the waiters whose round finished, if nothing is left to send.
    pub(super) async fn check_waiters(&mut self, waiters: &mut Vec<Waiter>) -> Result<()> {
        waiters.retain(|waiter| !waiter.reply.is_closed());
        let done = self.rounds.done;
        if !waiters
            .iter()
            .any(|waiter| waiter.round.is_some_and(|round| round <= done))
            || !self.in_flight.is_empty()
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
