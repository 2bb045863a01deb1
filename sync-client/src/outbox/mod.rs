//! The outbox: local changes waiting for the server's answer, persisted in the replica.
//!
//! Every local write and its outbox entry are committed in one transaction. An entry's id
//! (a UUID) is the change id the server deduplicates on, so sending it again after a crash
//! or a lost answer is safe.
//!
//! ```text
//!            send                  ACK
//! pending ─────────▶ processing ─────────▶ (removed)
//!    ▲                   │
//!    │  retryable NACK,  │ permanent NACK, or
//!    │  no answer, or    │ too many attempts
//!    │  disconnect       ▼
//!    └──────────────── failed ── retry_failed() ──▶ pending
//!                         └───── discard_failed() ─▶ (removed, replica restored)
//! ```
//!
//! Pending entries of one entity that were never sent are coalesced (below); an entry
//! that was sent is never rewritten, since the server may have processed it under its id.
//!
//! # Coalescing
//!
//! | queued | new | result |
//! |---|---|---|
//! | create | update | create, with the latest state |
//! | update | update | update, with the latest state |
//! | create | delete | nothing: the server never heard of it |
//! | update | delete | delete |
//! | delete | delete | delete, with the latest version |
//! | delete | create or update | update, with the latest state |

mod coalesce;
mod lifecycle;
mod presence;
mod queue;
mod read;

use chrono::{DateTime, Utc};
use sync_core::change::Operation;
use sync_core::version::Version;

pub(crate) use coalesce::coalesce;
pub(crate) use lifecycle::*;
pub(crate) use presence::*;
pub(crate) use queue::{
    Base, BatchLimits, NewChange, Queued, Sent, create, enqueue, remove_all, take,
};
pub(crate) use read::*;

/// One outbox entry, as [`Client::outbox`](crate::Client::outbox) and
/// [`Client::failed`](crate::Client::failed) list it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Entry {
    /// The change id the server deduplicates on.
    pub id: String,
    /// The entity's wire name.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// What the change does.
    pub operation: Operation,
    /// Where the entry is in its lifecycle.
    pub status: Status,
    /// How many times it was sent.
    pub attempts: u32,
    /// The version (`updated_at`) of the change.
    pub version: Version,
    /// When the change was first queued.
    pub created_at: DateTime<Utc>,
    /// Why it failed or was last refused: the server's machine-readable reason (e.g.
    /// `validation_error`), or `too_large` when it cannot fit in one message.
    pub reason: Option<String>,
    /// A human explanation of `reason`.
    pub detail: Option<String>,
}

/// Where an outbox entry is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting to be sent (maybe after a backoff).
    Pending,
    /// Sent; waiting for the server's answer.
    Processing,
    /// Refused for good, or given up after too many attempts. Kept until
    /// [`retry_failed`](crate::Client::retry_failed) or
    /// [`discard_failed`](crate::Client::discard_failed).
    Failed,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Processing => "processing",
            Status::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Status {
        match text {
            "processing" => Status::Processing,
            "failed" => Status::Failed,
            _ => Status::Pending,
        }
    }
}
