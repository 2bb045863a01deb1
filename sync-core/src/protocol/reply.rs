//! What a session sends: a message, or a frame already written.

use std::sync::Arc;

use super::{Frame, ServerMessage};

/// One reply of a session to its client.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A message, encoded when it is sent.
    Message(ServerMessage),
    /// A message already encoded as its text frame, such as a streamed `initial_data_load`
    /// (see [`InitialLoad`](super::InitialLoad)); sent as it is. Keep the reply until the
    /// transport has taken the frame: it may hold a snapshot slot (see [`Frame`]).
    Encoded(Frame),
}

impl Reply {
    /// The reply as a shareable text frame: an encoded frame as it is, without a copy.
    pub fn to_frame(&self) -> Arc<str> {
        match self {
            Reply::Message(message) => Arc::from(message.to_text()),
            Reply::Encoded(frame) => frame.text().clone(),
        }
    }
}

impl From<ServerMessage> for Reply {
    fn from(message: ServerMessage) -> Reply {
        Reply::Message(message)
    }
}
