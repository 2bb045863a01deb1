//! What a server makes of the messages: the change an entry asks for, and the answer to
//! each outcome.

use crate::change::Change;
use crate::outcome::{Effect, Outcome, OutcomeKind, Reason, Rejection};
use crate::store::ChangePage;
use crate::tenant::TenantId;

use super::{
    Ack, Changes, DataUpdate, DecodeError, Entry, Error, FeedChange, Nack, Operation,
    ServerMessage, SingleEntity,
};

/// The change `entry` asks for, on behalf of a session of `tenant`.
///
/// An entry naming another tenant is [`Reason::Forbidden`]: the tenant of a change is the
/// session's, never the message's.
pub fn to_change(entry: &Entry, tenant: &TenantId) -> Result<Change, Rejection> {
    let missing =
        |field: &str| Rejection::new(Reason::ValidationError, format!("{field}: missing"));
    let id = entry
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| missing("id"))?;
    if let Some(named) = &entry.tenant_id
        && named != tenant.as_str()
    {
        return Err(Rejection::new(
            Reason::Forbidden,
            "tenantId: the entry names another tenant than this connection's",
        ));
    }
    let entity_type = entry
        .entity_type
        .clone()
        .ok_or_else(|| missing("entityType"))?;
    let entity_id = entry.entity_id.clone().ok_or_else(|| missing("entityId"))?;
    let operation = entry
        .operation_type
        .as_deref()
        .ok_or_else(|| missing("operationType"))?;
    let operation = Operation::parse(operation).ok_or_else(|| {
        Rejection::new(
            Reason::ValidationError,
            format!("operationType: {operation:?} is not create, update or delete"),
        )
    })?;
    Ok(Change {
        id,
        entity_type,
        entity_id,
        operation,
        payload: entry.payload.clone(),
    })
}

/// The `error` reply to a frame that did not decode.
pub fn error_reply(error: &DecodeError) -> ServerMessage {
    ServerMessage::Error(Error {
        message: error.to_string(),
        original_type: match error {
            DecodeError::UnknownType(message_type) => Some(message_type.clone()),
            _ => None,
        },
    })
}

/// The NACK of `entry` for `rejection`, echoing the fields it has.
pub fn nack(entry: &Entry, rejection: Rejection) -> ServerMessage {
    ServerMessage::Nack(Nack::of(entry, rejection.reason, rejection.detail))
}

/// The state the origin of a change must adopt, which differs from what it sent: the
/// merged state of an `applied` change of a field-merged entity, the winner of a
/// `superseded` change, or the current state of a `duplicate` when that is not
/// the state the retried change stored (it lost, or another change replaced it since).
/// The session sends it to the origin as a `data_update` too, so a client that ignores
/// the ACK's extra fields converges as well.
pub(crate) fn origin_state(outcome: &Outcome) -> Option<&Effect> {
    match outcome {
        Outcome::Superseded { winner, .. } => Some(winner),
        Outcome::Duplicate {
            original,
            current: Some(current),
        } => {
            // (A change stored merged with others is recorded as superseded.)
            let own = original.kind == OutcomeKind::Applied
                && current.seq == original.seq
                && current.version == original.version;
            (!own).then_some(current)
        }
        Outcome::Applied {
            effect,
            merged: true,
            ..
        } => Some(effect),
        Outcome::Applied { .. }
        | Outcome::Duplicate { current: None, .. }
        | Outcome::Rejected(_) => None,
    }
}

/// The ACK of `entry` for `outcome`, committed at tenant `cursor`; `None` for a rejection,
/// which is a NACK.
///
/// `updated_at` and `seq` are those of the stored state: this change's for `applied`, the
/// winner's for `superseded`, the entity's current one for `duplicate`. `data` and
/// `deleted` carry the state the origin must adopt, when there is one (`origin_state`).
pub fn ack(entry: &Entry, outcome: &Outcome, cursor: u64) -> Option<ServerMessage> {
    let kind = outcome.kind()?;
    let (version, seq) = match outcome {
        Outcome::Applied { effect, .. } => (effect.version, Some(effect.seq)),
        Outcome::Superseded { winner, .. } => (winner.version, Some(winner.seq)),
        // The entity's state now: the answer to the first attempt may have been lost while
        // another change replaced it.
        Outcome::Duplicate {
            current: Some(current),
            ..
        } => (current.version, Some(current.seq)),
        Outcome::Duplicate { original, .. } => (original.version, None),
        Outcome::Rejected(_) => return None,
    };
    let adopted = origin_state(outcome);
    Some(ServerMessage::Ack(Ack {
        updated_at: Some(version.to_string()),
        cursor: Some(cursor),
        seq,
        data: adopted.map(|state| state.data.clone()),
        deleted: adopted.map(|state| state.deleted),
        ..Ack::of(entry, kind)
    }))
}

/// The `data_update` of `effect` to the sessions of `tenant`; `operation` is what the
/// change did (a tombstone is always a `delete`).
pub fn data_update(tenant: &TenantId, operation: Operation, effect: Effect) -> ServerMessage {
    ServerMessage::DataUpdate(DataUpdate {
        tenant_id: tenant.to_string(),
        entity_type: effect.entity_type.to_owned(),
        operation_type: if effect.deleted {
            Operation::Delete
        } else {
            operation
        },
        data: SingleEntity {
            single_entity: effect.data,
        },
        cursor: effect.seq,
    })
}

impl From<ChangePage> for Changes {
    /// The `changes` message of a page: a tombstone is a `delete`, a live state an `update`.
    fn from(page: ChangePage) -> Changes {
        Changes {
            changes: page
                .changes
                .into_iter()
                .map(|effect| FeedChange {
                    entity_type: effect.entity_type.to_owned(),
                    operation_type: if effect.deleted {
                        Operation::Delete
                    } else {
                        Operation::Update
                    },
                    data: effect.data,
                    cursor: effect.seq,
                })
                .collect(),
            cursor: page.cursor,
            has_more: page.has_more,
            reset: page.reset,
        }
    }
}
