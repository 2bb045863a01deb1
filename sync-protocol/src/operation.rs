//! What a change does: `create`, `update` or `delete`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// What a change does. Read in any case (`"DELETE"` is a delete), written in lowercase.
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
