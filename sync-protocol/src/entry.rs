//! A sync queue entry: one change as a FinWise client sends it, in `process_sync_entry` and
//! `process_sync_batch`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use crate::decode::{lenient, lenient_text};

/// A sync queue entry. Every field is optional so that a broken entry still decodes with
/// the fields it has, and its NACK can echo them; a field of the wrong shape is absent
/// (an id sent as a number is read as its text). The receiver validates what it needs.
///
/// ```
/// use sync_protocol::Entry;
///
/// let entry: Entry = serde_json::from_str(r#"{"id":7,"entityType":"Account","attempts":"x"}"#).unwrap();
/// assert_eq!(entry.id.as_deref(), Some("7"));
/// assert_eq!(entry.attempts, None);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The change id.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The tenant the client believes it writes to.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant_id: Option<String>,
    /// The entity's wire name.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub entity_type: Option<String>,
    /// The entity's id.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub entity_id: Option<String>,
    /// `create`, `update` or `delete`, any case, as the client wrote it (the answer echoes it).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub operation_type: Option<String>,
    /// The entity's JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Json>,
    /// When the client queued the change, milliseconds since the epoch.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<i64>,
    /// The client's queue status, `pending` when sent.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    /// How often the client sent it before.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub attempts: Option<u32>,
}

/// Reads a list of entries in which anything that is not an object is an empty entry, so
/// that one broken element is NACKed alone instead of failing the batch.
pub(crate) fn lenient_entries<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Entry>, D::Error> {
    match Json::deserialize(deserializer)? {
        Json::Array(elements) => Ok(elements.into_iter().map(entry_or_default).collect()),
        _ => Err(serde::de::Error::custom(
            "entries: expected a list of sync queue entries",
        )),
    }
}

/// Reads one entry, which must be an object.
pub(crate) fn entry_object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
    match Json::deserialize(deserializer)? {
        object @ Json::Object(_) => Ok(entry_or_default(object)),
        _ => Err(serde::de::Error::custom(
            "payload: expected a sync queue entry object",
        )),
    }
}

/// An object's entry; an empty one for anything else (an object always decodes, since
/// every field is lenient).
fn entry_or_default(element: Json) -> Entry {
    match element {
        Json::Object(_) => Entry::deserialize(element).unwrap_or_default(),
        _ => Entry::default(),
    }
}
