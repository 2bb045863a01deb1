//! The limits a server holds every connection to and announces in `welcome`: one
//! definition, with its defaults, for the server that enforces them and the client that
//! assumes them until the server says otherwise.

use serde::{Deserialize, Serialize};

/// The limits of `welcome`'s `limits` object. A field the server does not send takes its
/// default.
///
/// ```
/// use sync_protocol::Limits;
///
/// let limits: Limits = serde_json::from_str(r#"{"max_batch":100}"#).unwrap();
/// assert_eq!(limits, Limits { max_batch: 100, ..Limits::default() });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// The largest text frame either side may send, in bytes; the server closes a
    /// connection that sends a larger one with 1009. Default 1 MiB.
    pub max_message_bytes: usize,
    /// The most entries one `process_sync_batch` may hold; a larger batch is NACKed
    /// `too_large`, entry by entry. Default 500.
    pub max_batch: usize,
    /// The most changes one `changes` page holds, whatever `limit` asks. Default 10,000.
    pub max_page: usize,
}

impl Limits {
    /// These limits with every zero (which no server means) replaced by its default.
    pub fn or_defaults(self) -> Limits {
        let defaults = Limits::default();
        let or = |value: usize, default: usize| if value == 0 { default } else { value };
        Limits {
            max_message_bytes: or(self.max_message_bytes, defaults.max_message_bytes),
            max_batch: or(self.max_batch, defaults.max_batch),
            max_page: or(self.max_page, defaults.max_page),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 1 << 20,
            max_batch: 500,
            max_page: 10_000,
        }
    }
}
