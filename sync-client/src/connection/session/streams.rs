//! Partial sync in a session: every stored subscription is sent after `welcome` (before
//! the feed's first page, so the server leaves its entity out of the feed), with its
//! definition, cursor and held buckets; then the server's subscription messages go to the
//! replica (`replica::streams`). The outbox waits for every catch-up, so an edit is
//! answered against the buckets the replica holds now.

use std::collections::BTreeMap;

use sync_core::protocol::{
    BucketRemoved, BucketSnapshot, Checkpoint, StreamPage, Subscribed, SubscriptionError,
};

use super::Session;
use crate::connection::{Waiter, wire};
use crate::error::Result;
use crate::replica::streams::apply::{self, Progress};
use crate::replica::streams::holds::{self, Stored};

/// The subscriptions this session sent, by id.
#[derive(Default)]
pub(super) struct Streams {
    progress: BTreeMap<String, Progress>,
    /// When a catch-up last made progress (a subscribe sent, or a message of one that is
    /// not caught up received): a catch-up silent for the answer timeout means its frames
    /// were lost, and the connection is given up like any unanswered request.
    heard: Option<tokio::time::Instant>,
    /// Live pages received on this connection, against the count each live checkpoint
    /// tells: fewer means one was lost on the way.
    live_pages: u64,
    /// Per subscription, its frames received since its `subscribed`, against the count
    /// each checkpoint naming it tells: another count means one was lost.
    frames: BTreeMap<String, Frames>,
    /// The newest sequence number of a live page received on this connection. A
    /// checkpoint naming a subscription is read after every live page sent before it was
    /// committed, so it is never older than one that came before it, unless the frames
    /// came out of order.
    newest_live: u64,
}

/// The frames of one subscription received since its `subscribed`.
#[derive(Default)]
struct Frames {
    count: u64,
    /// `count` at the last checkpoint naming the subscription.
    at_checkpoint: Option<u64>,
}

impl Streams {
    /// Whether every subscription sent has finished its catch-up (or was refused).
    pub(super) fn caught_up(&self) -> bool {
        self.progress.values().all(|progress| progress.caught_up)
    }

    /// Since when a catch-up waits without news, if one does.
    pub(super) fn waiting_since(&self) -> Option<tokio::time::Instant> {
        self.heard.filter(|_| !self.caught_up())
    }

    fn heard_now(&mut self) {
        self.heard = Some(tokio::time::Instant::now());
    }

    fn count_frame(&mut self, subscription: &str) {
        self.frames
            .entry(subscription.to_owned())
            .or_default()
            .count += 1;
    }
}

impl Session<'_> {
    /// Sends the subscriptions this session has not sent, and ends those that ended.
    pub(super) async fn send_subscriptions(&mut self) -> Result<()> {
        if !self.greeting.greeted {
            return Ok(());
        }
        let shared = self.shared;
        let mut conn = shared.replica.lock().await?;
        let stored = holds::list(&mut conn).await?;
        let now = shared.local_ms();
        let ended: Vec<String> = self
            .streams
            .progress
            .keys()
            .filter(|id| {
                !stored
                    .iter()
                    .any(|stored| stored.id == **id && stored.active())
            })
            .cloned()
            .collect();
        for id in ended {
            let refused = self
                .streams
                .progress
                .remove(&id)
                .is_some_and(|progress| progress.refused);
            if refused {
                continue;
            }
            let ttl_ms = stored
                .iter()
                .find(|stored| stored.id == id)
                .and_then(|stored| stored.expires_at)
                .map_or(0, |at| at.saturating_sub(now));
            let ttl_secs = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1_000);
            self.link.send(wire::unsubscribe(&id, ttl_secs));
        }
        for subscription in stored.iter().filter(|stored| stored.active()) {
            if self.streams.progress.contains_key(&subscription.id) {
                continue;
            }
            let buckets = holds::held_buckets(&mut conn, &subscription.id).await?;
            self.send_subscribe(subscription, subscription.cursor, buckets);
        }
        Ok(())
    }

    /// Catches every active subscription up again from its cursor, as `sync_now` asks:
    /// a live page lost on the way (nothing on the wire says a bucket's next change is
    /// missing) is read again, as a feed round closes the gaps of `data_update`s.
    pub(super) async fn resubscribe(&mut self) -> Result<()> {
        if !self.greeting.greeted {
            return Ok(());
        }
        let shared = self.shared;
        let mut conn = shared.replica.lock().await?;
        let stored = holds::list(&mut conn).await?;
        for subscription in stored.iter().filter(|stored| stored.active()) {
            if self
                .streams
                .progress
                .get(&subscription.id)
                .is_some_and(|progress| progress.refused || !progress.caught_up)
            {
                continue;
            }
            let buckets = holds::held_buckets(&mut conn, &subscription.id).await?;
            self.send_subscribe(subscription, subscription.cursor, buckets);
        }
        Ok(())
    }

    /// Sends the subscribe of subscription `id` again, from its cursor, if it is active.
    async fn resubscribe_one(&mut self, id: &str) -> Result<()> {
        let shared = self.shared;
        let mut conn = shared.replica.lock().await?;
        let Some(subscription) = holds::get(&mut conn, id).await?.filter(Stored::active) else {
            return Ok(());
        };
        let buckets = holds::held_buckets(&mut conn, id).await?;
        self.send_subscribe(&subscription, subscription.cursor, buckets);
        Ok(())
    }

    /// Sends one `subscribe`, from `cursor` (`None`: load it whole).
    fn send_subscribe(&mut self, subscription: &Stored, cursor: Option<u64>, buckets: Vec<String>) {
        self.link.send(wire::subscribe(
            &subscription.id,
            &subscription.stream,
            &subscription.keys,
            subscription.definition.as_deref(),
            cursor,
            buckets,
        ));
        self.streams
            .progress
            .insert(subscription.id.clone(), Progress::default());
        self.streams.heard_now();
    }

    pub(super) async fn on_subscribed(&mut self, message: Subscribed) -> Result<()> {
        if !self.streams.progress.contains_key(&message.id) {
            return Ok(());
        }
        self.streams.heard_now();
        self.streams
            .frames
            .insert(message.id.clone(), Frames::default());
        let progress = apply::subscribed(&mut *self.shared.replica.lock().await?, &message).await?;
        match progress {
            Some(progress) => {
                self.streams.progress.insert(message.id, progress);
            }
            None => {
                self.streams.progress.remove(&message.id);
            }
        }
        Ok(())
    }

    pub(super) async fn on_subscription_error(
        &mut self,
        error: SubscriptionError,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        let Some(progress) = self.streams.progress.get_mut(&error.id) else {
            return Ok(());
        };
        tracing::warn!(id = %error.id, stream = %error.stream, code = ?error.code, message = %error.message, "the server refused a subscription");
        // Nothing more comes for it in this session; its rows stay as they are.
        progress.caught_up = true;
        progress.refused = true;
        let text = format!("{:?}: {}", error.code, error.message);
        apply::refused(&mut *self.shared.replica.lock().await?, &error.id, &text).await?;
        self.fill().await?;
        self.check_waiters(waiters).await
    }

    /// An `error` answering a `subscribe` (a server without partial sync): the oldest
    /// subscription still waiting is the one refused.
    pub(super) async fn on_subscribe_refused(
        &mut self,
        message: &str,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        let Some((id, progress)) = self
            .streams
            .progress
            .iter_mut()
            .find(|(_, progress)| !progress.caught_up && progress.definition.is_none())
        else {
            return Ok(());
        };
        progress.caught_up = true;
        progress.refused = true;
        let id = id.clone();
        apply::refused(&mut *self.shared.replica.lock().await?, &id, message).await?;
        self.fill().await?;
        self.check_waiters(waiters).await
    }

    pub(super) async fn on_stream_page(&mut self, page: StreamPage) -> Result<()> {
        if let Some(id) = &page.subscription {
            self.streams.heard_now();
            self.streams.count_frame(id);
        } else {
            self.streams.live_pages += 1;
            let newest = page.changes.iter().map(|change| change.seq).max();
            self.streams.newest_live = self.streams.newest_live.max(newest.unwrap_or(0));
        }
        let shared = self.shared;
        let events = apply::page(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            &page,
        )
        .await?;
        shared.publish_events(events);
        Ok(())
    }

    pub(super) async fn on_bucket_snapshot(&mut self, snapshot: BucketSnapshot) -> Result<()> {
        self.streams.heard_now();
        self.streams.count_frame(&snapshot.subscription);
        let shared = self.shared;
        let events = apply::snapshot(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            &snapshot,
        )
        .await?;
        shared.publish(events);
        Ok(())
    }

    pub(super) async fn on_bucket_removed(&mut self, removed: BucketRemoved) -> Result<()> {
        self.streams.count_frame(&removed.subscription);
        let shared = self.shared;
        let events = apply::removed(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            &removed,
        )
        .await?;
        shared.publish_events(events);
        Ok(())
    }

    pub(super) async fn on_checkpoint(
        &mut self,
        checkpoint: Checkpoint,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        let shared = self.shared;
        if let Some(id) = &checkpoint.subscription
            && !self.streams.progress.contains_key(id)
        {
            return Ok(());
        }
        // A server before frame counts sends none: nothing to check.
        if let Some(id) = &checkpoint.subscription
            && let Some(sent) = checkpoint.pages
        {
            let caught_up = self
                .streams
                .progress
                .get(id)
                .is_some_and(|progress| progress.caught_up);
            let frames = self.streams.frames.entry(id.clone()).or_default();
            let received = frames.count;
            if caught_up && frames.at_checkpoint == Some(sent) && sent == received {
                // No frame of the subscription since its last checkpoint, which had the
                // same count: this one was sent twice, and was handled already.
                return Ok(());
            }
            frames.at_checkpoint = Some(received);
            let overtaken = self.streams.newest_live > checkpoint.cursor;
            if received != sent || overtaken {
                // A frame of this catch-up (or re-resolution) was lost, or a newer live page
                // came before it: the cursor stays, and the subscription catches up again.
                tracing::debug!(%id, sent, received, overtaken, "a catch-up came incomplete or out of order; catching up again");
                return self.resubscribe_one(id).await;
            }
        }
        if let Some(id) = &checkpoint.subscription
            && self
                .streams
                .progress
                .get(id)
                .is_some_and(|progress| !progress.caught_up && progress.definition.is_none())
        {
            // A catch-up's checkpoint before its `subscribed`: a frame of the catch-up was
            // lost or came out of order, so the checkpoint cannot close it. The cursor
            // stays, and the subscription catches up again.
            tracing::debug!(%id, "a catch-up checkpoint came before its subscribed; catching up again");
            return self.resubscribe_one(id).await;
        }
        if checkpoint.subscription.is_none()
            && let Some(sent) = checkpoint.pages
            && sent != self.streams.live_pages
        {
            // A live page was lost: the cursors stay, and every subscription catches up
            // again from them.
            tracing::debug!(
                sent,
                received = self.streams.live_pages,
                "a live page was lost; catching the subscriptions up again"
            );
            self.streams.live_pages = sent;
            return self.resubscribe().await;
        }
        let events = apply::checkpoint(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            &checkpoint,
            &self.streams.progress,
        )
        .await?;
        shared.publish_events(events);
        if let Some(id) = &checkpoint.subscription
            && let Some(progress) = self.streams.progress.get_mut(id)
        {
            progress.caught_up = true;
            progress.loading = false;
            self.fill().await?;
            self.check_waiters(waiters).await?;
        }
        Ok(())
    }
}
