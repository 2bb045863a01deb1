//! The seam between the client's core and the network: a [`Connector`] opens a
//! [`Transport`], a `Stream` of frames from the server and a `Sink` of frames to it.
//!
//! The connection logic (greeting, catch-up, flushing the outbox, timeouts, reconnects) is
//! written against this seam only, like the server's session; the WebSocket adapter
//! (feature `websocket`, default) is one implementation, and a test or a simulation can
//! pass its own with [`Builder::connector`](crate::Builder::connector). A transport delivers
//! frames in order and whole, as WebSocket does; anything else (a dropped, duplicated or
//! late frame) is for the client to survive, never to rely on.
//!
//! ```
//! use futures::FutureExt;
//! use sync_client::transport::{self, Connector, Frame, Transport};
//!
//! /// A server that answers every connection with `status: maintenance` and hangs up.
//! struct Maintenance;
//!
//! impl Connector for Maintenance {
//!     fn connect(&self) -> transport::Connecting {
//!         let (to_client, incoming) = futures::channel::mpsc::unbounded();
//!         to_client
//!             .unbounded_send(Ok(Frame::Text(r#"{"type":"status","status":"maintenance"}"#.into())))
//!             .unwrap();
//!         async move { Ok(Transport::new(incoming, futures::sink::drain())) }.boxed()
//!     }
//! }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let client = sync_client::Client::builder("ws://unused/ws")
//!     .tenant("household")
//!     .connector(Maintenance)
//!     .build()
//!     .await
//!     .unwrap();
//! let error = client.sync_now(std::time::Duration::from_secs(5)).await.unwrap_err();
//! assert!(error.to_string().contains("maintenance"), "{error}");
//! client.close().await.unwrap();
//! # });
//! ```

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Sink, SinkExt, Stream, StreamExt};

/// An error of a transport, for people: it ends the connection and becomes the status's
/// `last_error`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A frame of either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A text frame: one protocol message.
    Text(String),
    /// The peer closes the connection (from the server), or the client does (to it).
    Close {
        /// The close code (PROTOCOL.md B.3); 1000 when the client closes.
        code: u16,
        /// Why, for people.
        reason: String,
    },
}

/// What [`Connector::connect`] returns: the attempt, which ends in an open transport or
/// in why it failed (shown to people).
pub type Connecting = BoxFuture<'static, Result<Transport, BoxError>>;

/// An open connection: the frames from the server in order, and a sink for the frames to
/// it. The connection ends when the stream ends or yields an error, or when a send fails.
pub struct Transport {
    pub(crate) incoming: BoxStream<'static, Result<Frame, BoxError>>,
    pub(crate) outgoing: Pin<Box<dyn Sink<Frame, Error = BoxError> + Send>>,
}

impl Transport {
    /// A transport of `incoming` frames and an `outgoing` sink.
    pub fn new<I, O, E>(incoming: I, outgoing: O) -> Transport
    where
        I: Stream<Item = Result<Frame, BoxError>> + Send + 'static,
        O: Sink<Frame, Error = E> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        Transport {
            incoming: incoming.boxed(),
            outgoing: Box::pin(outgoing.sink_map_err(Into::into)),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

/// Opens connections to the server. The client calls [`connect`](Connector::connect) for
/// every connection attempt (bounded by the connect timeout) and reconnects with backoff
/// after a failure.
pub trait Connector: Send + Sync + 'static {
    /// Starts a connection attempt.
    fn connect(&self) -> Connecting;
}

/// The server's answer to a connection attempt it refused before the upgrade (an HTTP
/// status), as a connector's error: the client tells refused credentials (401, 403: the
/// [token provider](crate::credentials) is asked once more, then the client stops) from a
/// server that cannot admit it now (503 and others: retried with backoff, no sooner than
/// [`retry_after`](Self::retry_after)). Any other error of a connector is a failed
/// attempt, retried with backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    status: u16,
    detail: Option<String>,
    retry_after: Option<Duration>,
}

impl Refused {
    /// A refusal with the HTTP `status`.
    pub fn new(status: u16) -> Refused {
        Refused {
            status,
            detail: None,
            retry_after: None,
        }
    }

    /// The same, with the server's explanation.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Refused {
        self.detail = Some(detail.into());
        self
    }

    /// The same, with the server's `Retry-After`.
    pub fn with_retry_after(mut self, wait: Duration) -> Refused {
        self.retry_after = Some(wait);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The server's explanation, if it gave one.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// How long the server asked the client to wait before it tries again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the server refused the credentials (401 or 403), not the moment.
    pub fn is_credentials(&self) -> bool {
        matches!(self.status, 401 | 403)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server refused the connection: {}", self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}
