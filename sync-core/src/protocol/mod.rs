//! The wire protocol: the messages are the [`sync_protocol`] crate, re-exported here; this
//! module adds what only a server does with them: turning outcomes into answers
//! ([`ack`], [`nack`], [`data_update`]), entries into changes ([`to_change`]), and writing
//! the large messages straight from the store ([`InitialLoad`], [`Frame`]).
//!
//! Decoding never panics: a frame that is not JSON, has no `type`, or has an unknown one
//! becomes a [`DecodeError`], answered with an `error` message ([`error_reply`]) while the
//! connection stays open; unknown fields are ignored.
//!
//! ```
//! use sync_core::protocol::{ClientMessage, DecodeError, Pong, ServerMessage, error_reply};
//!
//! let ping = ClientMessage::decode(r#"{"type":"ping","timestamp":42}"#).unwrap();
//! assert_eq!(ping, ClientMessage::Ping { timestamp: 42.into() });
//!
//! let unknown = ClientMessage::decode(r#"{"type":"launch"}"#).unwrap_err();
//! assert_eq!(unknown, DecodeError::UnknownType("launch".into()));
//! assert_eq!(
//!     error_reply(&unknown).to_text(),
//!     r#"{"type":"error","message":"unknown message type: launch","original_type":"launch"}"#
//! );
//!
//! let pong = ServerMessage::Pong(Pong { timestamp: 42.into() });
//! assert_eq!(pong.to_text(), r#"{"type":"pong","timestamp":42}"#);
//! ```

mod answer;
mod reply;
mod snapshot;

pub(crate) use answer::origin_state;
pub use answer::{ack, data_update, error_reply, nack, to_change};
pub use reply::Reply;
pub use snapshot::{Frame, InitialLoad, initial_data_load};
pub use sync_protocol::*;
