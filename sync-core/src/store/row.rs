//! A stored row, read back: the one decoding of an entity's state that both stores share.

use crate::entity::{DecodeError, Handler, Role, Value};
use crate::error::{Error, Result};
use crate::outcome::Effect;
use crate::version::Version;

/// The state a stored row holds: `values` in the handler's column order (as the store's
/// dialect read them), its tombstone flag and its sequence number. A timestamp column may
/// come back as text (SQLite) or as a timestamp (PostgreSQL).
pub(crate) fn stored_effect(
    handler: &dyn Handler,
    values: Vec<Value>,
    deleted: bool,
    seq: i64,
) -> Result<Effect> {
    let columns = handler.columns();
    let entity_id = match &values[handler.position(Role::Id)] {
        Value::Text(text) => text.clone(),
        Value::Int(number) => number.to_string(),
        Value::Uuid(uuid) => uuid.hyphenated().to_string(),
        other => format!("{other:?}"),
    };
    let version_position = handler.position(Role::UpdatedAt);
    let decode_error = |message: String| Error::Decode {
        table: handler.table(),
        id: entity_id.clone(),
        source: DecodeError::new(columns[version_position].name, message),
    };
    let version = match &values[version_position] {
        Value::Text(text) => {
            Version::parse(text).map_err(|error| decode_error(error.to_string()))?
        }
        Value::Timestamp(at) => {
            Version::try_from_datetime(*at).map_err(|error| decode_error(error.to_string()))?
        }
        other => {
            return Err(decode_error(format!(
                "expected a timestamp, found {}",
                other.kind()
            )));
        }
    };
    let data = if deleted {
        handler.tombstone_json(&entity_id, version)
    } else {
        handler
            .row_to_json(values)
            .map_err(|source| Error::Decode {
                table: handler.table(),
                id: entity_id.clone(),
                source,
            })?
    };
    Ok(Effect {
        entity_type: handler.entity(),
        collection: handler.collection(),
        entity_id,
        deleted,
        version,
        seq: u64::try_from(seq).unwrap_or_default(),
        data,
    })
}
