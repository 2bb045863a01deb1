//! Where the client's bearer token comes from: a [`TokenProvider`], asked before every
//! connection attempt, and once more when the server refuses the token it gave.
//!
//! A closure `Fn(Cause) -> impl Future<Output = Result<String, BoxError>>` is a provider,
//! so an app that renews short-lived tokens (an OAuth refresh, its own login endpoint)
//! passes one to [`Builder::token_provider`](crate::Builder::token_provider);
//! [`Builder::token`](crate::Builder::token) is the same with a constant token.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use sync_client::credentials::Cause;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let renewals = Arc::new(AtomicU32::new(0));
//! let counter = renewals.clone();
//! let client = sync_client::Client::builder("ws://127.0.0.1:9/ws")
//!     .tenant("household")
//!     .token_provider(move |cause: Cause| {
//!         let counter = counter.clone();
//!         async move {
//!             if cause == Cause::Refused {
//!                 counter.fetch_add(1, Ordering::Relaxed); // renew rather than reuse a cached token
//!             }
//!             Ok::<_, sync_client::transport::BoxError>("a fresh token".to_owned())
//!         }
//!     })
//!     .build()
//!     .await
//!     .unwrap();
//! client.close().await.unwrap();
//! # });
//! ```
//!
//! What happens to a refusal: after a 401 or a 403 the client asks the provider again
//! ([`Cause::Refused`]) and reconnects at once; refused a second time in a row, it stops
//! and its status becomes [`Connection::Refused`](crate::status::Connection::Refused)
//! (and [`sync_now`](crate::Client::sync_now) answers
//! [`Error::Refused`](crate::Error::Refused)) until it is closed. A 503 (the server
//! cannot check credentials now) is retried with backoff, no sooner than its
//! `Retry-After`. A provider that fails counts as a failed connection attempt: the client
//! retries with backoff.

use std::future::Future;

use futures::future::BoxFuture;

use crate::transport::BoxError;

/// Why the client asks for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// A connection attempt is about to start; a cached token that is still valid will do.
    Connect,
    /// The server refused the last token (401 or 403): return a renewed one. Refused
    /// again, the client stops.
    Refused,
}

/// What [`TokenProvider::token`] returns: the token, or why there is none (shown to people
/// as the status's `last_error`).
pub type TokenFuture = BoxFuture<'static, Result<String, BoxError>>;

/// Gives the bearer token of each connection attempt.
///
/// Called before every attempt of the client's WebSocket connector (not of a custom
/// [`Connector`](crate::transport::Connector), which handles credentials itself), and
/// never twice at once; the call counts toward the attempt's connect timeout.
pub trait TokenProvider: Send + Sync + 'static {
    /// The token to send as `Authorization: Bearer …`.
    fn token(&self, cause: Cause) -> TokenFuture;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn(Cause) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
{
    fn token(&self, cause: Cause) -> TokenFuture {
        Box::pin(self(cause))
    }
}

/// The same token every time: what [`Builder::token`](crate::Builder::token) sets.
#[derive(Debug, Clone)]
pub(crate) struct Constant(pub(crate) String);

impl TokenProvider for Constant {
    fn token(&self, _cause: Cause) -> TokenFuture {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}
