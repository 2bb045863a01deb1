//! Catching up: rounds of `request_changes` pages from the stored cursor, live
//! `data_update`s, and the rounds that close the gaps live updates leave.

use tokio::time::Instant;

use super::Session;
use crate::connection::Waiter;
use sync_core::protocol::{Changes, DataUpdate, FeedChange, Operation};

use crate::connection::wire;
use crate::error::Result;
use crate::event::Event;
use crate::replica::apply::{self, Remote};

/// Catch-up rounds: a round asks for pages until `has_more` is false.
#[derive(Default)]
pub(super) struct Rounds {
    started: u64,
    pub(super) done: u64,
    /// When the outstanding page was requested, while a round runs.
    pub(super) requested_at: Option<Instant>,
    /// Another round must follow the running one (a `sync_now` came during it).
    pub(super) again: bool,
    /// When the last round ended.
    pub(super) finished_at: Option<Instant>,
}

/// What the session knows of the change feed: the stored cursor, the server's, and the
/// rounds that close the distance.
#[derive(Default)]
pub(super) struct Feed {
    /// The stored cursor.
    pub(super) cursor: u64,
    /// The highest tenant cursor the server mentioned.
    pub(super) known_cursor: u64,
    /// Whether the first catch-up round finished, so the outbox may be flushed.
    pub(super) caught_up: bool,
    pub(super) rounds: Rounds,
    /// When to catch up on changes the live updates did not cover.
    pub(super) gap_at: Option<Instant>,
}

impl Session<'_> {
    /// Starts a catch-up round from the stored cursor; waiters without a round wait for it.
    pub(super) fn start_round(&mut self, waiters: &mut [Waiter]) {
        self.feed.rounds.started += 1;
        for waiter in waiters.iter_mut().filter(|waiter| waiter.round.is_none()) {
            waiter.round = Some(self.feed.rounds.started);
        }
        self.request_page(self.feed.cursor);
    }

    pub(super) fn request_page(&mut self, since: u64) {
        let limit = self
            .shared
            .config
            .page_size
            .min(self.greeting.limits.max_page)
            .max(1);
        self.feed.rounds.requested_at = Some(Instant::now());
        self.link.send(wire::request_changes(since, limit));
    }

    pub(super) async fn on_page(&mut self, page: Changes, waiters: &mut Vec<Waiter>) -> Result<()> {
        let Changes {
            changes,
            cursor,
            has_more,
            reset,
        } = page;
        if self.feed.rounds.requested_at.is_none() {
            return Ok(());
        }
        let shared = self.shared;
        if reset {
            tracing::info!(
                cursor = self.feed.cursor,
                "the server cannot continue from the cursor: full reload"
            );
            apply::reload(&mut *shared.replica.lock().await?, shared.replica.tables()).await?;
            self.feed.cursor = 0;
            shared.set_cursor(0);
            let _ = shared.events.send(Event::Reloaded);
            self.request_page(0);
            return Ok(());
        }
        let remotes: Vec<Remote<'_>> = changes.iter().map(remote).collect();
        let (events, stored) = apply::page(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            &remotes,
            cursor,
        )
        .await?;
        shared.publish(events);
        self.feed.cursor = stored;
        shared.set_cursor(stored);
        self.learn_cursor(cursor);
        if has_more {
            self.request_page(self.feed.cursor);
            return Ok(());
        }
        self.feed.rounds.requested_at = None;
        self.feed.rounds.finished_at = Some(Instant::now());
        self.feed.rounds.done = self.feed.rounds.started;
        shared.synced();
        if !self.feed.caught_up {
            self.feed.caught_up = true;
            self.fill().await?;
        }
        if std::mem::take(&mut self.feed.rounds.again) {
            self.start_round(waiters);
        }
        self.check_waiters(waiters).await?;
        self.schedule_gap();
        Ok(())
    }

    pub(super) async fn on_data_update(&mut self, update: DataUpdate) -> Result<()> {
        let shared = self.shared;
        self.learn_cursor(update.cursor);
        let (changed, advanced) = apply::data_update(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            Remote {
                entity_type: &update.entity_type,
                deleted: update.operation_type == Operation::Delete,
                data: &update.data.single_entity,
                seq: update.cursor,
            },
        )
        .await?;
        shared.publish(changed);
        if let Some(cursor) = advanced {
            self.feed.cursor = cursor;
            shared.set_cursor(cursor);
        }
        self.schedule_gap();
        Ok(())
    }

    /// Whether an idle, caught-up session is due to check its cursor with a round: a
    /// `data_update` lost on the way would otherwise go unnoticed until the next change
    /// mentions a later cursor.
    pub(super) fn check_due(&self) -> bool {
        self.feed.caught_up
            && self.feed.rounds.requested_at.is_none()
            && self.flush.is_idle()
            && self
                .feed
                .rounds
                .finished_at
                .is_some_and(|at| at.elapsed() >= self.shared.config.check_interval)
    }

    /// Whether the server mentioned changes past the stored cursor that no round covers.
    pub(super) fn has_gap(&self) -> bool {
        self.feed.caught_up
            && self.feed.rounds.requested_at.is_none()
            && self.flush.is_idle()
            && self.feed.known_cursor > self.feed.cursor
    }

    pub(super) fn schedule_gap(&mut self) {
        if self.feed.gap_at.is_none() && self.has_gap() {
            self.feed.gap_at = Some(Instant::now() + self.shared.config.gap_delay);
        }
    }
}

fn remote(change: &FeedChange) -> Remote<'_> {
    Remote {
        entity_type: &change.entity_type,
        deleted: change.operation_type == Operation::Delete,
        data: &change.data,
        seq: change.cursor,
    }
}
