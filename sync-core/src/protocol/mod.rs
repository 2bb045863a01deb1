//! The wire protocol: every message of PROTOCOL.md, decoded and encoded.
//!
//! Decoding never panics: a frame that is not JSON, has no `type`, or has an unknown one
//! becomes a [`DecodeError`], answered with an `error` message while the connection stays
//! open; unknown fields are ignored.
//!
//! ```
//! use sync_core::protocol::{ClientMessage, DecodeError, ServerMessage};
//!
//! let ping = ClientMessage::decode(r#"{"type":"ping","timestamp":42}"#).unwrap();
//! assert_eq!(ping, ClientMessage::Ping { timestamp: 42.into() });
//!
//! let unknown = ClientMessage::decode(r#"{"type":"launch"}"#).unwrap_err();
//! assert_eq!(unknown, DecodeError::UnknownType("launch".into()));
//!
//! let pong = ServerMessage::Pong { timestamp: 42.into() };
//! assert_eq!(pong.to_text(), r#"{"timestamp":42,"type":"pong"}"#);
//! ```

mod client;
mod server;
mod snapshot;

pub use client::{ClientMessage, DecodeError, Entry};
pub(crate) use server::origin_state;
pub use server::{Ack, Nack, RowChecksum, ServerMessage};
pub use snapshot::{Frame, InitialLoad};

/// The protocol version this crate speaks in `hello`/`welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

impl DecodeError {
    /// The `error` reply to this failure.
    pub fn reply(&self) -> ServerMessage {
        ServerMessage::Error {
            message: self.to_string(),
            original_type: match self {
                DecodeError::UnknownType(message_type) => Some(message_type.clone()),
                _ => None,
            },
        }
    }
}
