//! Outcomes: what became of each change, before it is turned into an ACK or a NACK.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::version::Version;

pub use sync_protocol::{OutcomeKind, Reason};

/// What became of one change.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The change won and was committed; `effect` is what every other replica must apply.
    Applied {
        /// The committed state.
        effect: Effect,
        /// The change's `updated_at` was too far in the future and was set to the server's time.
        clamped: bool,
        /// The committed state is the change merged with the stored one (a field-merged
        /// entity, [`merge`](crate::merge)) and differs from the change's own: its origin
        /// must adopt `effect`. Always `false` for whole-row last-write-wins.
        merged: bool,
    },
    /// The stored version won; the origin must adopt `winner`.
    Superseded {
        /// The stored state that won.
        winner: Effect,
        /// The change's `updated_at` was too far in the future and was set to the server's time.
        clamped: bool,
    },
    /// A retry of a change processed before; nothing was written again.
    Duplicate {
        /// The outcome recorded when the change was first processed.
        original: Recorded,
        /// The entity's stored state (live or tombstone) as the retry is answered, which
        /// may be newer than `original`; `None` only if nothing is stored for it.
        current: Option<Effect>,
    },
    /// Refused; nothing was written for this change.
    Rejected(Rejection),
}

impl Outcome {
    /// The wire name of the outcome, for an ACK; `None` for a rejection.
    pub fn kind(&self) -> Option<OutcomeKind> {
        match self {
            Outcome::Applied { .. } => Some(OutcomeKind::Applied),
            Outcome::Superseded { .. } => Some(OutcomeKind::Superseded),
            Outcome::Duplicate { .. } => Some(OutcomeKind::Duplicate),
            Outcome::Rejected(_) => None,
        }
    }

    /// The stored version after this change, for an ACK; `None` for a rejection.
    pub fn stored_version(&self) -> Option<Version> {
        match self {
            Outcome::Applied { effect, .. } => Some(effect.version),
            Outcome::Superseded { winner, .. } => Some(winner.version),
            Outcome::Duplicate { original, .. } => Some(original.version),
            Outcome::Rejected(_) => None,
        }
    }
}

/// The state of one entity after a change: a live row or a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// The entity's wire name.
    pub entity_type: &'static str,
    /// The entity's collection.
    pub collection: &'static str,
    /// The entity's id.
    pub entity_id: String,
    /// Whether the entity is deleted (a tombstone).
    pub deleted: bool,
    /// The stored version.
    pub version: Version,
    /// The tenant sequence number of the change that produced this state.
    pub seq: u64,
    /// The entity's JSON; for a tombstone `{"id": …, "<updated_at>": …}`.
    pub data: serde_json::Value,
}

/// What the store remembers of a processed change, to answer its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Applied or superseded; superseded too for a change applied merged with the stored
    /// state (`Outcome::Applied { merged: true, .. }`), which did not store its own state.
    pub kind: OutcomeKind,
    /// The stored version after it was processed.
    pub version: Version,
    /// The tenant sequence after it was processed.
    pub seq: u64,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The machine-readable reason.
    pub reason: Reason,
    /// A human explanation that names the offending field where there is one.
    pub detail: String,
}

impl Rejection {
    /// A rejection for `reason`.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The outcomes of one batch, in the order of its changes, and the tenant cursor after it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// One outcome per change.
    pub outcomes: Vec<Outcome>,
    /// The tenant's sequence number after the batch committed.
    pub cursor: u64,
    /// What the applied changes did to their entities' stream buckets, in sequence order;
    /// empty when no entity of the batch declares streams.
    pub routes: Vec<crate::entity::stream::Route>,
    /// The subjects whose memberships of a principal-keyed stream the batch changed.
    pub principals: Vec<String>,
}
