//! The wire protocol of the sync engine: every message of both directions as typed serde
//! structs and enums, with the FinWise wire names.
//!
//! This crate is a leaf: it knows nothing of stores, engines or sessions, so the server
//! (`sync-core`'s session) and the client (`sync-client`) speak through the same types.
//! Messages are written straight with serde, never through a tree of `serde_json::Value`s;
//! only entity JSON (`data`, `payload`) stays a `Value`.
//!
//! - [`ClientMessage`]: what a client sends. [`ClientMessage::decode`] never panics: a frame
//!   that is not JSON, has no `type`, or has an unknown one becomes a [`DecodeError`]; unknown
//!   fields are ignored, and a broken entry still decodes with the fields it has so that it
//!   can be NACKed.
//! - [`ServerMessage`]: what a server sends. Most messages carry `type`; the two data
//!   messages (`data_update`, `initial_data_load`) carry `event_type` instead.
//! - [`Ack`] and [`Nack`], the answers to an entry, with [`Ack::outcome`] as the typed
//!   reading of an ACK and [`Reason::retryable`] as the one retry rule.
//! - [`Limits`], the limits a server announces in `welcome`, with their defaults.
//!
//! ```
//! use sync_protocol::{ClientMessage, DecodeError, Pong, ServerMessage};
//!
//! let ping = ClientMessage::decode(r#"{"type":"ping","timestamp":42}"#).unwrap();
//! assert_eq!(ping, ClientMessage::Ping { timestamp: 42.into() });
//!
//! let unknown = ClientMessage::decode(r#"{"type":"launch"}"#).unwrap_err();
//! assert_eq!(unknown, DecodeError::UnknownType("launch".into()));
//!
//! let pong = ServerMessage::Pong(Pong { timestamp: 42.into() });
//! assert_eq!(pong.to_text(), r#"{"type":"pong","timestamp":42}"#);
//! assert_eq!(ServerMessage::decode(&pong.to_text()).unwrap(), pong);
//! ```

mod answer;
mod client;
mod decode;
mod entry;
mod limits;
mod operation;
mod server;
mod stream;

pub use answer::{Ack, AckOutcome, AckStatus, Nack, NackStatus, OutcomeKind, Reason, State};
pub use client::ClientMessage;
pub use decode::DecodeError;
pub use entry::Entry;
pub use limits::Limits;
pub use operation::Operation;
pub use server::{
    Changes, ConnectionStatusResponse, DataStatusResponse, DataUpdate, Error, FeedChange,
    InitialDataLoad, Ping, Pong, RowChecksum, ServerMessage, SingleEntity, Status, StatusKind,
    TenantDisconnectAck, Welcome,
};
pub use stream::{
    BucketOp, BucketRemoved, BucketSnapshot, Checkpoint, RemovedReason, StreamChange, StreamPage,
    Subscribed, SubscriptionError, SubscriptionErrorCode,
};

/// The protocol version this crate speaks in `hello`/`welcome`.
pub const PROTOCOL_VERSION: u32 = 1;
