//! Changes: what a client asks the server to do to one entity.
//!
//! ```
//! use sync_core::change::{Change, Operation};
//!
//! assert_eq!(Operation::parse("DELETE"), Some(Operation::Delete));
//! let change = Change::delete("Account", "acc-1");
//! assert_eq!(change.operation, Operation::Delete);
//! assert_eq!(change.entity_id, "acc-1");
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::entity::Syncable;

/// The longest change id accepted, in bytes.
pub const MAX_CHANGE_ID_LEN: usize = 128;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Create the entity; on an existing id it is an update under last-write-wins.
    Create,
    /// Replace the entity; on a missing id it is an upsert.
    Update,
    /// Delete the entity, leaving a tombstone.
    Delete,
}

impl Operation {
    /// Reads an operation, ignoring case.
    pub fn parse(text: &str) -> Option<Operation> {
        [Operation::Create, Operation::Update, Operation::Delete]
            .into_iter()
            .find(|operation| operation.as_str().eq_ignore_ascii_case(text))
    }

    /// The wire form: `create`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Operation::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown operation {text:?}: expected create, update or delete"
            ))
        })
    }
}

/// One change to one entity, named by wire name so any registered entity can be handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The change id: unique per change, the idempotency key of retries.
    pub id: String,
    /// The entity's wire name, matched case-insensitively.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// What to do.
    pub operation: Operation,
    /// The entity's JSON for create and update; `{"id": …}`, maybe with `updated_at`, or
    /// nothing for delete.
    pub payload: Option<serde_json::Value>,
}

impl Change {
    /// An update carrying `entity`'s current state, with a fresh change id.
    pub fn upsert<T: Syncable>(entity: &T) -> Result<Change, serde_json::Error> {
        Ok(Change {
            id: new_change_id(),
            entity_type: T::ENTITY.to_owned(),
            entity_id: entity.id(),
            operation: Operation::Update,
            payload: Some(serde_json::to_value(entity)?),
        })
    }

    /// A delete of `entity_id` with a fresh change id; its version is the arrival time.
    pub fn delete(entity_type: impl Into<String>, entity_id: impl Into<String>) -> Change {
        Change {
            id: new_change_id(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            operation: Operation::Delete,
            payload: None,
        }
    }

    /// The same change under another change id.
    pub fn with_id(mut self, id: impl Into<String>) -> Change {
        self.id = id.into();
        self
    }
}

/// A fresh random change id.
pub fn new_change_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
