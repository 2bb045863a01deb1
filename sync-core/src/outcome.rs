//! Outcomes: what became of each change, before it is turned into an ACK or a NACK.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::version::Version;

/// What became of one change.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The change won and was committed; `effect` is what every other replica must apply.
    Applied {
        /// The committed state.
        effect: Effect,
        /// The change's `updated_at` was too far in the future and was set to the server's time.
        clamped: bool,
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

/// The kinds of accepted outcome, as the wire names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// See [`Outcome::Applied`].
    Applied,
    /// See [`Outcome::Superseded`].
    Superseded,
    /// See [`Outcome::Duplicate`].
    Duplicate,
}

impl OutcomeKind {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Applied => "applied",
            OutcomeKind::Superseded => "superseded",
            OutcomeKind::Duplicate => "duplicate",
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
    /// Applied or superseded.
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

/// The machine-readable reasons of a NACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The payload does not decode into the entity.
    ValidationError,
    /// No entity of that name is registered.
    UnknownEntity,
    /// The change names a tenant the session is not authorised for.
    Forbidden,
    /// The payload's id differs from the change's `entityId`.
    PayloadMismatch,
    /// The change's timestamp is unacceptable.
    ClockSkew,
    /// The change exceeds a size limit.
    TooLarge,
    /// The database failed; retrying may succeed.
    StorageError,
    /// The server is overloaded; retry later.
    Overloaded,
    /// A bug on the server; retrying may succeed.
    InternalError,
}

impl Reason {
    /// The wire form, e.g. `validation_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ValidationError => "validation_error",
            Reason::UnknownEntity => "unknown_entity",
            Reason::Forbidden => "forbidden",
            Reason::PayloadMismatch => "payload_mismatch",
            Reason::ClockSkew => "clock_skew",
            Reason::TooLarge => "too_large",
            Reason::StorageError => "storage_error",
            Reason::Overloaded => "overloaded",
            Reason::InternalError => "internal_error",
        }
    }

    /// Whether sending the same change again may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Reason::StorageError | Reason::Overloaded | Reason::InternalError
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcomes of one batch, in the order of its changes, and the tenant cursor after it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// One outcome per change.
    pub outcomes: Vec<Outcome>,
    /// The tenant's sequence number after the batch committed.
    pub cursor: u64,
}
