//! The crate's error type: what can stop the server from starting or fail a request
//! internally. Requests answer these as a 500 without details (see `api::error`).

use std::path::PathBuf;

/// Everything that can go wrong in the FinWise server outside of a client's mistake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; the message says which setting and why.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The auth database failed; the operation had no effect.
    #[error("auth database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A service the configuration names (PostgreSQL, NATS) cannot be reached at start.
    #[error("cannot connect to {service} at {url}: {reason}")]
    Connect {
        /// `PostgreSQL` or `NATS`.
        service: &'static str,
        /// The URL tried, its password masked.
        url: String,
        /// Why, as the driver said it.
        reason: String,
    },
    /// The sync store failed.
    #[error(transparent)]
    Store(#[from] sync_core::Error),
    /// A file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    Password(String),
    /// A session token could not be issued.
    #[error("cannot issue a session token: {0}")]
    Token(String),
}

impl Error {
    /// Whether the same operation may succeed later: the server lacked a resource (file
    /// descriptors, a database connection, an open tenant database), nothing was changed.
    /// Requests answer these as 503 with `Retry-After`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(sync_core::Error::Unavailable(_)) => true,
            Error::Store(sync_core::Error::Database(error)) => error.is_retryable(),
            Error::Database(error) => {
                sync_core::DatabaseErrorKind::of(error) == sync_core::DatabaseErrorKind::Unavailable
            }
            _ => false,
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
