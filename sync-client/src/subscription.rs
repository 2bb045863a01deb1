//! Partial sync: subscribe to declared streams of an entity instead of receiving it whole.
//!
//! An entity declares streams with `#[sync(stream(name = "...", by = field, filter = fn))]`:
//! each value of the partition field is a *bucket*. [`Client::subscribe`] asks for some
//! buckets of a stream; the replica then holds exactly the rows those buckets hold, kept
//! up to date live. An entity subscribed once on a replica is *streamed* for good: it no
//! longer syncs whole, and after its last subscription ends the replica holds none of its
//! rows until it is subscribed again. An entity never subscribed keeps syncing the whole
//! tenant. Subscriptions are stored in the
//! replica and resumed at every connection from their cursor, so a restart or a reconnect
//! catches up incrementally instead of loading the buckets again.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_client::subscription::State;
//! use sync_client::Client;
//!
//! fn posted(payment: &Payment) -> bool {
//!     !payment.draft
//! }
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
//! #[sync(entity = "Payment", table = "payments")]
//! #[sync(stream(name = "payments_by_account", by = account_id, filter = posted))]
//! pub struct Payment {
//!     #[sync(id)]
//!     pub id: String,
//!     #[sync(index)]
//!     pub account_id: String,
//!     pub draft: bool,
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! let client = Client::builder("ws://127.0.0.1:9/ws").tenant("t").entity::<Payment>().build().await.unwrap();
//! // Recorded at once, sent whenever the client is connected.
//! let giro = client.subscribe::<Payment>("payments_by_account", ["A", "B"]).await.unwrap();
//! let listed = client.subscriptions().await.unwrap();
//! assert_eq!((listed[0].keys.as_slice(), listed[0].cursor), (&["A".to_owned(), "B".to_owned()][..], None));
//! assert!(client.subscribe::<Payment>("nope", ["A"]).await.is_err(), "not declared");
//!
//! // Stop syncing, keeping the rows for a minute (a quick resubscribe finds them).
//! client.unsubscribe(&giro, Duration::from_secs(60)).await.unwrap();
//! assert!(matches!(client.subscriptions().await.unwrap()[0].state, State::Warm { .. }));
//! client.unsubscribe(&giro, Duration::ZERO).await.unwrap();
//! assert!(client.subscriptions().await.unwrap().is_empty());
//! # });
//! ```
//!
//! The rules, in short (the rest is in `docs/partial-sync.md`):
//!
//! - A row is stored once however many subscriptions hold it, and leaves the replica when
//!   no bucket holds it any more (it moved to another bucket, the filter now refuses it,
//!   it was deleted, or its bucket was removed), as a `Changed` delete with
//!   [`Source::Remote`](crate::event::Source::Remote). A row with a local change in the
//!   outbox stays until the server answers it; then it stays only if the state the server
//!   settled is in a subscribed bucket.
//! - Pages and snapshots are applied each in one local transaction; a subscription's
//!   [`cursor`](Subscription::cursor) moves only at the server's checkpoints, and each
//!   checkpoint applied is an [`Event::Checkpoint`](crate::event::Event::Checkpoint): the
//!   subscriptions it names then hold exactly their buckets' rows at its cursor (rows with
//!   local changes in the outbox aside).
//! - When the server reloads a subscription (its definition changed, or its cursor is past
//!   the server's history), the rows it held before and still holds after never leave
//!   the replica in between; those it no longer holds leave at the end of the reload.
//! - [`Client::unsubscribe`] with a TTL keeps the rows (not synced any more) until the TTL
//!   passes, also across restarts; with [`Duration::ZERO`](std::time::Duration::ZERO)
//!   they leave at once, unless another subscription holds them.
//! - A local edit of a row that left every subscribed bucket, refused by the server as
//!   `forbidden`, is dropped from the outbox with an
//!   [`Event::Dropped`](crate::event::Event::Dropped) naming what was lost.
//! - [`sync_now`](crate::Client::sync_now) also waits for every subscription's catch-up.
//!
//! [`Client::subscribe`]: crate::Client::subscribe
//! [`Client::unsubscribe`]: crate::Client::unsubscribe

use chrono::{DateTime, Utc};

use crate::replica::streams::holds::Stored;

/// A subscription's id, chosen by the client; stable across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub(crate) String);

impl SubscriptionId {
    /// The id as the wire carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for SubscriptionId {
    fn from(id: String) -> SubscriptionId {
        SubscriptionId(id)
    }
}

/// One subscription, as [`Client::subscriptions`](crate::Client::subscriptions) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// The entity's wire name.
    pub entity: String,
    /// The stream.
    pub stream: String,
    /// The bucket keys asked for.
    pub keys: Vec<String>,
    /// The buckets the server granted, as it last said: the keys asked for that the
    /// principal may see (for a stream keyed by the principal, its own keys); `None`
    /// until the server first answered.
    pub buckets: Option<Vec<String>>,
    /// The server sequence number its buckets are complete up to (its last checkpoint);
    /// `None` until its first catch-up ends.
    pub cursor: Option<u64>,
    /// The stream's definition hash its rows were synced under.
    pub definition: Option<String>,
    /// Syncing, or kept warm after an unsubscribe.
    pub state: State,
    /// Why the server last refused it, if it did; it is asked again at the next
    /// connection.
    pub error: Option<String>,
}

/// Whether a subscription syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Subscribed: sent at every connection, its buckets synced live.
    Active,
    /// Unsubscribed with a TTL: not synced, its rows kept until `until`.
    Warm {
        /// When its rows go.
        until: DateTime<Utc>,
    },
}

impl From<Stored> for Subscription {
    fn from(stored: Stored) -> Subscription {
        Subscription {
            id: SubscriptionId(stored.id),
            entity: stored.entity,
            stream: stored.stream,
            keys: stored.keys,
            buckets: stored.buckets,
            cursor: stored.cursor,
            definition: stored.definition,
            state: match stored.expires_at {
                None => State::Active,
                Some(at) => State::Warm {
                    until: DateTime::from_timestamp_millis(at).unwrap_or_default(),
                },
            },
            error: stored.error,
        }
    }
}
