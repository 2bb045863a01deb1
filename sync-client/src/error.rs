//! The crate's error type.

use std::time::Duration;

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given something unusable; nothing was opened.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The local database or its schema failed; the call had no effect.
    #[error(transparent)]
    Core(#[from] sync_core::Error),
    /// The local database failed; the call had no effect.
    #[error("local database error: {0}")]
    Database(#[from] sync_core::DatabaseError),
    /// The entity type was not registered on the builder with `.entity::<T>()`.
    #[error("{0} is not registered with this client: add .entity::<{0}>() to the builder")]
    UnknownEntity(&'static str),
    /// The entity does not make a valid row (e.g. an empty id); nothing was written.
    #[error("invalid {entity} {id:?}: {detail}")]
    Invalid {
        /// The entity's wire name.
        entity: &'static str,
        /// The entity's id.
        id: String,
        /// What was wrong.
        detail: String,
    },
    /// A stored row or an event does not decode into the requested type.
    #[error("cannot decode {entity} {id:?}: {detail}")]
    Decode {
        /// The entity's wire name.
        entity: &'static str,
        /// The entity's id.
        id: String,
        /// serde's message.
        detail: String,
    },
    /// [`sync_now`](crate::Client::sync_now) could not reach the server, or lost it before
    /// the sync finished. Local changes stay in the outbox and are sent on reconnect.
    #[error("offline: {0}")]
    Offline(String),
    /// [`sync_now`](crate::Client::sync_now) did not finish in time. The sync goes on in the
    /// background; nothing is lost.
    #[error("sync did not finish within {0:?}")]
    Timeout(Duration),
    /// A [`Query`](crate::query::Query) names a field that does not exist or has no
    /// index, or gives a value that does not fit the field: fix the query (or mark the
    /// field `#[sync(index)]`).
    #[error("invalid query: {0}")]
    Query(String),
    /// The server refused the client's credentials, also the token provider's renewed
    /// one: the client no longer connects (see
    /// [`Connection::Refused`](crate::status::Connection::Refused)). Local changes stay
    /// in the outbox; a client built with valid credentials on the same database sends
    /// them.
    #[error("the server refused the credentials ({refusal}): {detail}")]
    Refused {
        /// 401 or 403.
        refusal: crate::status::Refusal,
        /// The server's explanation.
        detail: String,
    },
    /// [`subscribe`](crate::Client::subscribe) names a stream the entity does not declare
    /// (with `#[sync(stream(name = ...))]`); nothing was recorded.
    #[error("{entity} declares no stream named {stream:?}")]
    UnknownStream {
        /// The entity's wire name.
        entity: &'static str,
        /// The stream named.
        stream: String,
    },
    /// A key given to [`subscribe`](crate::Client::subscribe) cannot be a value of the
    /// stream's partition column (empty, too long, or of the wrong type); nothing was
    /// recorded.
    #[error("the key {key:?} is not a value of the stream {stream}'s column {column}")]
    InvalidKey {
        /// The stream.
        stream: String,
        /// Its partition column.
        column: &'static str,
        /// The key refused.
        key: String,
    },
    /// No subscription has this id (it was never made, or it ended).
    #[error("no subscription {0}")]
    UnknownSubscription(crate::subscription::SubscriptionId),
    /// The client was closed; no further calls succeed.
    #[error("the client is closed")]
    Closed,
    /// The database file belongs to another tenant than the one configured.
    #[error(
        "the database {path} holds tenant {stored:?}, not {configured:?}: use one file per tenant"
    )]
    TenantMismatch {
        /// The database file.
        path: String,
        /// The tenant recorded in it.
        stored: String,
        /// The tenant configured on the builder.
        configured: String,
    },
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Error {
        Error::Database(error.into())
    }
}
