//! Tenant ids: validated before any file path or query is built from them.
//!
//! ```
//! use sync_core::TenantId;
//!
//! assert!(TenantId::new("household-42").is_ok());
//! assert!(TenantId::new("../etc/passwd").is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A tenant id matching `^[A-Za-z0-9_-]{1,64}$`: safe as a file name on every platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

/// The longest tenant id accepted.
pub const MAX_TENANT_ID_LEN: usize = 64;

/// A string that is not a valid tenant id; the message says which rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant id {shown:?}: {problem}; use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'")]
pub struct InvalidTenantId {
    shown: String,
    problem: &'static str,
}

impl TenantId {
    /// Validates `id`; nothing else in the crate builds a `TenantId`.
    pub fn new(id: impl Into<String>) -> Result<TenantId, InvalidTenantId> {
        let id = id.into();
        let problem = if id.is_empty() {
            Some("it is empty")
        } else if id.len() > MAX_TENANT_ID_LEN {
            Some("it is longer than 64 characters")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Some("it contains a character other than letters, digits, '_' and '-'")
        } else {
            None
        };
        match problem {
            None => Ok(TenantId(id)),
            Some(problem) => Err(InvalidTenantId {
                // Bounded and escaped by `{:?}`, so a hostile id cannot flood or forge logs.
                shown: id.chars().take(80).collect(),
                problem,
            }),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        TenantId::new(id)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TenantId::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet_up_to_64() {
        for id in [
            "a",
            "Tenant_1",
            "0-9",
            &"x".repeat(64),
            "550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert_eq!(TenantId::new(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn refuses_paths_and_everything_else() {
        for id in [
            "",
            "../x",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".",
            "..",
            "a.db",
            "nul\0byte",
            "space here",
            "ümlaut",
            &"x".repeat(65),
        ] {
            let error = TenantId::new(id).unwrap_err();
            assert!(error.to_string().contains("invalid tenant id"), "{error}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<TenantId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"../x\"").is_err());
    }
}
