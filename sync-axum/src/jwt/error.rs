//! The error of issuing or loading keys and tokens: opaque, with a kind to match on and the
//! underlying cause as its [`source`](std::error::Error::source).

use std::fmt;

/// What went wrong, to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A token could not be signed (e.g. the claims do not serialise).
    Sign,
    /// A key or a key set is malformed or of an unsupported type.
    Key,
    /// A key set could not be read or fetched (file, network, size or time limit).
    Fetch,
    /// The configuration is unusable (e.g. a plain `http://` URL that is not loopback).
    Config,
}

/// An error of [`JwtKeys`](super::JwtKeys) or [`Jwks`](super::Jwks). The cause, when there
/// is one, is kept as the [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}
