//! The answers to an entry: `sync_ack` and `sync_nack`, and their typed reading.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::entry::Entry;

/// The `outcome` of an ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// The change won and is stored. A FinWise ACK without `outcome` means this.
    #[default]
    Applied,
    /// The stored version is newer; the ACK carries it.
    Superseded,
    /// The entry id was processed before; nothing was written again.
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
    /// The change is older than the tenant's tombstone horizon and names an entity the
    /// server holds no state of: the entity may have been deleted and its tombstone purged,
    /// so applying it could bring the entity back. Writing it again with a current
    /// `updated_at` re-creates it on purpose.
    Expired,
    /// The database failed; retrying may succeed.
    StorageError,
    /// The server is overloaded; retry later.
    Overloaded,
    /// A bug on the server; retrying may succeed.
    InternalError,
    /// A reason this version does not know (a newer server's); the NACK's `retryable`
    /// decides. Never sent.
    #[serde(other)]
    Unknown,
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
            Reason::Expired => "expired",
            Reason::StorageError => "storage_error",
            Reason::Overloaded => "overloaded",
            Reason::InternalError => "internal_error",
            Reason::Unknown => "unknown",
        }
    }

    /// Whether sending the same change again may succeed: the one retry rule, which the
    /// server announces in every NACK's `retryable`.
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

/// The `status` of an ACK: always `processed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckStatus {
    /// `processed`.
    #[default]
    Processed,
}

/// The `status` of a NACK: always `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NackStatus {
    /// `failed`.
    #[default]
    Failed,
}

/// A `sync_ack`: the entry's change is committed (or was before). The identifying fields
/// echo the entry; the rest is extension B.1, absent from a FinWise server's ACK.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ack {
    /// The entry's id.
    pub id: String,
    /// Always `processed`.
    pub status: AckStatus,
    /// As the entry named it.
    #[serde(rename = "entityId")]
    pub entity_id: String,
    /// As the entry named it.
    #[serde(rename = "entityType")]
    pub entity_type: String,
    /// As the entry named it.
    #[serde(rename = "operationType")]
    pub operation_type: String,
    /// Applied, superseded or duplicate.
    pub outcome: OutcomeKind,
    /// The stored version (RFC 3339): this change's for `applied`, the winner's for
    /// `superseded`, the entity's current one for `duplicate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The tenant's sequence number after the commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
    /// The sequence number of the stored state: this change's for `applied`, the winner's
    /// for `superseded`, the current state's for `duplicate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The state the origin must adopt: the winner for `superseded`; for `duplicate` the
    /// entity's current state when another change replaced the retried one since; for
    /// `applied` the merged state of a field-merged entity when it differs from the
    /// entry's (never for an entity with whole-row last-write-wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Json>,
    /// Whether the state in `data` is a tombstone; present exactly when `data` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// A state of an entity that an ACK reports, other than the one the entry sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State<'a> {
    /// The entity's JSON; a tombstone's holds its id and version.
    pub data: &'a Json,
    /// Whether it is a tombstone. A server that does not say sends a live state (every
    /// server that sends tombstones in ACKs says so).
    pub deleted: bool,
    /// Its version, as `updated_at` says.
    pub updated_at: Option<&'a str>,
    /// Its sequence number, when the server says.
    pub seq: Option<u64>,
}

/// What an ACK says the server holds for the entity: the typed reading of its fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AckOutcome<'a> {
    /// The entry's own state is stored, at version `updated_at` (the server's, when it
    /// clamped a future one) and sequence number `seq`, as far as the server says.
    /// Also a `duplicate` without `data`: the entity still holds the retried change.
    Own {
        /// `applied`, or `duplicate`.
        kind: OutcomeKind,
        /// The stored version.
        updated_at: Option<&'a str>,
        /// The stored state's sequence number.
        seq: Option<u64>,
    },
    /// Another state is stored: the winner over a `superseded` entry, what replaced a
    /// `duplicate`'s change since, or an `applied` entry merged with the stored state
    /// (per-field merging); the origin adopts it.
    Other {
        /// `superseded`, or `duplicate`.
        kind: OutcomeKind,
        /// The state.
        state: State<'a>,
    },
    /// A `superseded` ACK without its winner (a FinWise server's): the winner follows as a
    /// `data_update`.
    Pending,
}

impl Ack {
    /// What the server holds for the entity after this ACK.
    ///
    /// ```
    /// use sync_protocol::{Ack, AckOutcome, OutcomeKind};
    ///
    /// let ack: Ack = serde_json::from_str(r#"{"id":"e1","outcome":"duplicate","seq":4,
    ///     "data":{"id":"a1"},"deleted":true}"#).unwrap();
    /// let AckOutcome::Other { kind, state } = ack.outcome() else { panic!() };
    /// assert_eq!((kind, state.deleted, state.seq), (OutcomeKind::Duplicate, true, Some(4)));
    ///
    /// // An entity merged per field: the change was stored merged with another one.
    /// let ack: Ack = serde_json::from_str(r#"{"id":"e2","outcome":"applied","seq":5,
    ///     "data":{"id":"k1","name":"Anna"},"deleted":false}"#).unwrap();
    /// assert!(matches!(ack.outcome(), AckOutcome::Other { kind: OutcomeKind::Applied, .. }));
    /// ```
    pub fn outcome(&self) -> AckOutcome<'_> {
        let own = AckOutcome::Own {
            kind: self.outcome,
            updated_at: self.updated_at.as_deref(),
            seq: self.seq,
        };
        match (self.outcome, &self.data) {
            (OutcomeKind::Applied, None) => own,
            (kind, Some(data)) => AckOutcome::Other {
                kind,
                state: State {
                    data,
                    deleted: self.deleted.unwrap_or(false),
                    updated_at: self.updated_at.as_deref(),
                    seq: self.seq,
                },
            },
            (OutcomeKind::Superseded, None) => AckOutcome::Pending,
            (OutcomeKind::Duplicate, None) => own,
        }
    }
}

/// A `sync_nack`: the entry's change was refused and nothing of it is stored. It carries
/// every identifying field the entry had (empty when it had none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nack {
    /// The entry's id, or empty when it had none.
    #[serde(default)]
    pub id: String,
    /// Always `failed`.
    #[serde(default)]
    pub status: NackStatus,
    /// As the entry named it, or empty.
    #[serde(default, rename = "entityId")]
    pub entity_id: String,
    /// As the entry named it, or empty.
    #[serde(default, rename = "entityType")]
    pub entity_type: String,
    /// As the entry named it, or empty.
    #[serde(default, rename = "operationType")]
    pub operation_type: String,
    /// Why.
    #[serde(default = "unknown_reason")]
    pub reason: Reason,
    /// A human explanation that names the offending field where there is one.
    #[serde(default)]
    pub detail: String,
    /// Whether sending the change again may succeed, as the server says; when it does not
    /// (a FinWise server), the reason decides: see [`Nack::retryable`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

fn unknown_reason() -> Reason {
    Reason::Unknown
}

impl Nack {
    /// The NACK of `entry` for `reason`, echoing the fields it has.
    pub fn of(entry: &Entry, reason: Reason, detail: impl Into<String>) -> Nack {
        let echo = |field: &Option<String>| field.clone().unwrap_or_default();
        Nack {
            id: echo(&entry.id),
            status: NackStatus::Failed,
            entity_id: echo(&entry.entity_id),
            entity_type: echo(&entry.entity_type),
            operation_type: echo(&entry.operation_type),
            reason,
            detail: detail.into(),
            retryable: Some(reason.retryable()),
        }
    }

    /// Whether sending the change again may succeed: what the server said, else what the
    /// reason says.
    pub fn retryable(&self) -> bool {
        self.retryable.unwrap_or_else(|| self.reason.retryable())
    }
}

impl Ack {
    /// The ACK of `entry` with `outcome`, echoing the entry's identifying fields; the
    /// extension fields are the caller's to set.
    pub fn of(entry: &Entry, outcome: OutcomeKind) -> Ack {
        let echo = |field: &Option<String>| field.clone().unwrap_or_default();
        Ack {
            id: echo(&entry.id),
            status: AckStatus::Processed,
            entity_id: echo(&entry.entity_id),
            entity_type: echo(&entry.entity_type),
            operation_type: echo(&entry.operation_type),
            outcome,
            ..Ack::default()
        }
    }
}
