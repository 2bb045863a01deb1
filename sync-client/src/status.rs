//! The client's status, published as a `tokio::sync::watch` channel for UIs.
//!
//! ```
//! use sync_client::status::{Connection, Status};
//!
//! let status = Status::default();
//! assert_eq!(status.connection, Connection::Offline);
//! assert!(status.is_settled(), "nothing waits to be sent");
//! ```

use chrono::{DateTime, Utc};

/// The state of the connection to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Connection {
    /// Not connected; the client retries with backoff. `last_error` says why.
    #[default]
    Offline,
    /// A connection attempt is under way.
    Connecting,
    /// Connected and greeted by the server: changes flow both ways.
    Online,
    /// [`close`](crate::Client::close) was called; the client no longer connects.
    Closed,
    /// The server refused the client's credentials twice in a row, the second time after
    /// the [token provider](crate::credentials) was asked for a new token: the client no
    /// longer connects (a new client with new credentials must be built). `last_error`
    /// holds the server's explanation. Local reads and writes still work.
    Refused(Refusal),
}

/// How the server refused the client's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// 401: no token, or one that does not verify (e.g. expired).
    Unauthorized,
    /// 403: a valid token without access to the tenant.
    Forbidden,
}

impl Refusal {
    /// The refusal an HTTP status stands for, if it is one of credentials.
    pub fn from_status(status: u16) -> Option<Refusal> {
        match status {
            401 => Some(Refusal::Unauthorized),
            403 => Some(Refusal::Forbidden),
            _ => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Forbidden => "forbidden",
        })
    }
}

/// What a sync indicator shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Status {
    /// The connection state.
    pub connection: Connection,
    /// Outbox entries waiting to be sent.
    pub pending: u64,
    /// Outbox entries sent and waiting for their answer.
    pub processing: u64,
    /// Outbox entries refused for good or given up on; see
    /// [`Client::failed`](crate::Client::failed).
    pub failed: u64,
    /// When the client last finished catching up with the server, or had its last
    /// in-flight changes answered.
    pub last_sync: Option<DateTime<Utc>>,
    /// The latest connection or sync error, cleared when a connection succeeds.
    pub last_error: Option<String>,
    /// The change-feed cursor the replica has caught up to.
    pub cursor: u64,
    /// The tenant's cursor as the server last mentioned it (in `welcome`, pages, ACKs and
    /// live updates); `None` before the first connection. With `cursor`, a UI can show
    /// catch-up progress. It may run ahead of `cursor` for a moment, until a catch-up
    /// round covers the changes the live updates did not.
    pub server_cursor: Option<u64>,
}

impl Status {
    /// Whether nothing waits to be sent or answered (failed entries aside).
    pub fn is_settled(&self) -> bool {
        self.pending == 0 && self.processing == 0
    }
}
