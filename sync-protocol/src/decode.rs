//! Reading a frame: the tag first, then the message it names, with the errors a peer is
//! told about. Nothing here panics on any input.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;

/// Why a frame could not be decoded. A server answers it with an `error` message and keeps
/// the connection open; a client ignores the frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The frame is JSON but not an object with a string `type`.
    #[error("message has no type: expected an object with a string \"type\"")]
    MissingType,
    /// The `type` is not one this side knows (at most its first 64 characters).
    #[error("unknown message type: {0}")]
    UnknownType(String),
    /// A known type with fields of the wrong shape.
    #[error("invalid {message_type}: {detail}")]
    InvalidFields {
        /// The message type.
        message_type: String,
        /// What was wrong.
        detail: String,
    },
}

/// The tags of a frame: `type`, or `event_type` for the two data messages. Other fields
/// are skipped without being kept.
#[derive(Deserialize)]
struct Tags {
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    message_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    event_type: Option<String>,
}

/// A frame's tag, named by the key that carried it.
pub(crate) enum Tag {
    /// `type`.
    Type(String),
    /// `event_type`, on a frame without `type`.
    Event(String),
}

/// Reads the tag of `text`, checking first that it is JSON at all.
pub(crate) fn tag(text: &str) -> Result<Tag, DecodeError> {
    serde_json::from_str::<IgnoredAny>(text)
        .map_err(|error| DecodeError::InvalidJson(error.to_string()))?;
    match serde_json::from_str::<Tags>(text) {
        Ok(Tags {
            message_type: Some(message_type),
            ..
        }) => Ok(Tag::Type(message_type)),
        Ok(Tags {
            event_type: Some(event_type),
            ..
        }) => Ok(Tag::Event(event_type)),
        _ => Err(DecodeError::MissingType),
    }
}

/// `text` read as the message `T` of type `message_type`.
pub(crate) fn body<T: DeserializeOwned>(text: &str, message_type: &str) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|error| DecodeError::InvalidFields {
        message_type: message_type.to_owned(),
        detail: error.to_string(),
    })
}

/// The error for a tag this side does not know.
pub(crate) fn unknown(message_type: &str) -> DecodeError {
    DecodeError::UnknownType(message_type.chars().take(64).collect())
}

/// Accepts a value of `T`; a value of any other shape (or null) is absent, not an error.
pub(crate) fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Json::deserialize(deserializer)?).ok())
}

/// Accepts a string, and reads a number as its text; anything else is absent.
pub(crate) fn lenient_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Json::deserialize(deserializer)? {
        Json::String(text) => Some(text),
        Json::Number(number) => Some(number.to_string()),
        _ => None,
    })
}
