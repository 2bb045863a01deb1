//! Events: every change the replica applies, local or remote, for UIs to follow.
//!
//! [`Client::events`](crate::Client::events) returns a `tokio::sync::broadcast` receiver.
//! A receiver that falls more than the channel's capacity behind gets
//! `RecvError::Lagged(n)`: it stays subscribed, has missed `n` events, and should re-read
//! what it shows with [`Client::list`](crate::Client::list).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # use chrono::{DateTime, Utc};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
//! # #[sync(entity = "Tag", table = "tags")]
//! # pub struct Tag {
//! #     #[sync(id)]
//! #     pub id: String,
//! #     pub name: String,
//! #     #[sync(updated_at)]
//! #     pub updated_at: Option<DateTime<Utc>>,
//! # }
//! use sync_client::event::{Event, Source};
//! use sync_client::Client;
//!
//! // An in-memory replica against a server that is not there: events flow all the same.
//! let client = Client::builder("ws://127.0.0.1:9").tenant("t").entity::<Tag>().build().await.unwrap();
//! let mut events = client.events();
//! client.put(&Tag { id: "t1".into(), name: "travel".into(), updated_at: None }).await.unwrap();
//!
//! let Event::Changed(changed) = events.recv().await.unwrap() else { unreachable!() };
//! assert_eq!((changed.entity_type, changed.entity_id.as_str()), ("Tag", "t1"));
//! assert_eq!(changed.source, Source::Local);
//! assert_eq!(changed.entity::<Tag>().unwrap().unwrap().name, "travel");
//! # });
//! ```

use serde_json::Value as Json;
use sync_core::Syncable;
use sync_core::version::Version;

use crate::error::{Error, Result};
use crate::subscription::SubscriptionId;

/// Something that happened to the replica.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// One entity's state changed.
    Changed(Changed),
    /// The server could not continue from the client's cursor (its history was purged),
    /// so the replica was emptied, keeping only entities with local changes in the
    /// outbox, and is being reloaded: `Changed` events for every entity follow.
    Reloaded,
    /// Local changes the server refused as `forbidden` for a row the client no longer
    /// holds (it left every subscribed bucket, its bucket was revoked, before or after
    /// the refusal): they were removed from the outbox, and the row from the replica (a
    /// `Changed` delete precedes this event). Show the user what was lost; nothing is
    /// retried. A refused edit of a row still held fails as usual (see
    /// [`Client::failed`](crate::Client::failed)).
    Dropped(Dropped),
    /// The replica applied a server checkpoint to the
    /// [`subscriptions`](Checkpoint::subscriptions) it names: their rows are now exactly
    /// the rows their buckets held on the server at [`cursor`](Checkpoint::cursor),
    /// except rows with a local change in the outbox (pinned until the server answers it,
    /// see [`crate::subscription`]). Follows the `Changed` events of the rows the
    /// checkpoint removed. Not sent for a checkpoint the replica does not apply: a live
    /// one after a lost page, or a catch-up's that came before its `subscribed` (the
    /// subscriptions catch up again, and a later checkpoint names them), or a live one
    /// behind every cursor. An app that shows a streamed entity can wait for it to know
    /// its view is consistent at one point of the server's history.
    Checkpoint(Checkpoint),
}

/// Subscriptions a server checkpoint was applied to (see [`Event::Checkpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The server sequence number the subscriptions are now complete up to: the
    /// [`Subscription::cursor`](crate::subscription::Subscription::cursor) each now has.
    pub cursor: u64,
    /// The subscriptions: the one a catch-up's checkpoint names, or every subscription
    /// caught up on the connection whose cursor a live checkpoint moved forward or found
    /// there already.
    pub subscriptions: Vec<SubscriptionId>,
}

/// Local changes dropped because their row is out of the client's reach (see
/// [`Event::Dropped`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Dropped {
    /// The entity's wire name.
    pub entity_type: &'static str,
    /// The entity's id.
    pub entity_id: String,
    /// The row as the client had edited it, when it was not deleted.
    pub data: Option<Json>,
    /// The outbox entries dropped, oldest first.
    pub changes: Vec<crate::outbox::Entry>,
    /// The server's explanation of the refusal.
    pub detail: String,
}

/// One entity's new state in the replica.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Changed {
    /// The entity's wire name, e.g. `"Account"`.
    pub entity_type: &'static str,
    /// The entity's id.
    pub entity_id: String,
    /// Whether the entity is now deleted.
    pub deleted: bool,
    /// The entity's version (`updated_at`) now.
    pub version: Version,
    /// The entity's JSON; for a deleted entity only its id and version.
    pub data: Json,
    /// Where the change came from.
    pub source: Source,
}

impl Changed {
    /// The entity as `T`, or `None` when the event concerns another type or a deletion.
    pub fn entity<T: Syncable>(&self) -> Result<Option<T>> {
        if self.deleted || !self.entity_type.eq_ignore_ascii_case(T::ENTITY) {
            return Ok(None);
        }
        serde_json::from_value(self.data.clone())
            .map(Some)
            .map_err(|error| Error::Decode {
                entity: T::ENTITY,
                id: self.entity_id.clone(),
                detail: error.to_string(),
            })
    }

    /// Whether the event concerns an entity of type `T`.
    pub fn is<T: Syncable>(&self) -> bool {
        self.entity_type.eq_ignore_ascii_case(T::ENTITY)
    }
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A call of this client: `put` or `delete`, or undoing one (`discard_failed`).
    Local,
    /// The server: another client's change, the state that won over a local change, or
    /// a page of the change feed.
    Remote,
}
