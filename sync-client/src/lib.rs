//! `sync-client`: the offline-first client of the sync framework.
//!
//! A [`Client`] keeps a local SQLite replica of one tenant, with the same tables as the
//! server, and a persistent outbox of local changes. Every read and write goes to the
//! replica, so the app works the same with or without a server; a background task
//! connects over WebSocket, catches up with the server's change feed, sends the outbox in
//! batches, applies other clients' changes live, and reconnects with backoff when the
//! connection drops.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_client::Client;
//! use sync_core::Syncable;
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
//! #[serde(rename_all = "camelCase")]
//! #[sync(entity = "Account", table = "accounts")]
//! pub struct Account {
//!     #[sync(id)]
//!     pub id: String,
//!     pub name: String,
//!     pub balance: f64,
//!     #[serde(rename = "updated_at")]
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! // Nothing listens there: the client works offline and keeps retrying in the background.
//! let client = Client::builder("ws://127.0.0.1:9/ws")
//!     .tenant("household")
//!     .token("a bearer token")
//!     .database(dir.path().join("household.db"))
//!     .entity::<Account>()
//!     .build()
//!     .await
//!     .unwrap();
//!
//! let giro = Account { id: "a1".into(), name: "Giro".into(), balance: 10.5, updated_at: None };
//! let stored = client.put(&giro).await.unwrap();
//! assert!(stored.updated_at.is_some(), "the client's clock stamps every edit");
//! assert_eq!(client.get::<Account>("a1").await.unwrap(), Some(stored.clone()));
//! assert_eq!(client.list::<Account>().await.unwrap(), vec![stored]);
//!
//! // Ten more edits of the same account while offline: still one change to send.
//! for cents in 0..10 {
//!     client.put(&Account { balance: f64::from(cents), ..giro.clone() }).await.unwrap();
//! }
//! assert_eq!(client.status().borrow().pending, 1);
//!
//! // Deleting it before it was ever sent leaves nothing to send at all.
//! client.delete::<Account>("a1").await.unwrap();
//! assert_eq!(client.get::<Account>("a1").await.unwrap(), None);
//! assert_eq!(client.status().borrow().pending, 0);
//!
//! // sync_now needs the server: it says why it cannot finish.
//! let error = client.sync_now(std::time::Duration::from_secs(5)).await.unwrap_err();
//! assert!(matches!(error, sync_client::Error::Offline(_)), "{error}");
//! client.close().await.unwrap();
//! # });
//! ```
//!
//! Typed queries and live reads. A [`query`](Client::query) selects by the fields marked
//! `#[sync(index)]` (and the id): equality, ranges, an order, a limit; a field without an
//! index is an [`Error::Query`], not a table scan. [`watch`](Client::watch) yields every
//! change of one type as the replica applies it, local or remote, with its
//! [`Source`](event::Source); a query's [`watch`](query::Query::watch) re-emits its result
//! whenever a change touches it, also when a row leaves it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # use chrono::{DateTime, Utc};
//! # use serde::{Deserialize, Serialize};
//! use sync_client::event::Source;
//! use sync_client::watch::Update;
//! use sync_client::Client;
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
//! #[sync(entity = "Expense", table = "expenses")]
//! pub struct Expense {
//!     #[sync(id)]
//!     pub id: String,
//!     #[sync(index)]
//!     pub category: String,
//!     #[sync(index)]
//!     pub amount: f64,
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//! let expense = |id: &str, category: &str, amount| Expense {
//!     id: id.into(), category: category.into(), amount, updated_at: None,
//! };
//!
//! let client = Client::builder("ws://127.0.0.1:9/ws").tenant("t").entity::<Expense>().build().await.unwrap();
//! client.put(&expense("e1", "food", 12.0)).await.unwrap();
//! client.put(&expense("e2", "food", 40.0)).await.unwrap();
//! client.put(&expense("e3", "rent", 900.0)).await.unwrap();
//!
//! let cheap_food = client.query::<Expense>().eq("category", "food").range("amount", ..20.0);
//! assert_eq!(cheap_food.fetch().await.unwrap().len(), 1);
//! let biggest = client.query::<Expense>().order_by_desc("amount").limit(1).fetch().await.unwrap();
//! assert_eq!(biggest[0].id, "e3");
//! assert!(client.query::<Expense>().eq("updated_at", None::<f64>).fetch().await.is_err(), "no index");
//!
//! let mut changes = client.watch::<Expense>();
//! let mut live = cheap_food.watch().unwrap();
//! assert_eq!(live.next().await.unwrap().len(), 1, "the result at once");
//!
//! // e1 gets dearer: it leaves the result, which is emitted again.
//! client.put(&expense("e1", "food", 25.0)).await.unwrap();
//! assert!(live.next().await.unwrap().is_empty());
//! let Update::Changed { change, source } = changes.next().await.unwrap() else { unreachable!() };
//! assert_eq!((change.entity().unwrap().amount, source), (25.0, Source::Local));
//! # });
//! ```
//!
//! Partial sync. An entity that declares streams (`#[sync(stream(name = "...", by =
//! field))]`) can be synced by bucket: [`subscribe`](Client::subscribe) asks for some
//! buckets of a stream, and the replica then holds exactly their rows, kept live, resumed
//! from a stored cursor after a restart or a reconnect; [`unsubscribe`](Client::unsubscribe)
//! lets the rows go, at once or after a TTL. The rules and an example are in
//! [`subscription`].
//!
//! ```no_run
//! # async fn example(client: sync_client::Client) -> sync_client::Result<()> {
//! # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, sync_core::Syncable)]
//! # #[sync(entity = "Payment", table = "payments")]
//! # #[sync(stream(name = "payments_by_account", by = account_id))]
//! # pub struct Payment {
//! #     #[sync(id)]
//! #     pub id: String,
//! #     #[sync(index)]
//! #     pub account_id: String,
//! #     #[sync(updated_at)]
//! #     pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
//! # }
//! use std::time::Duration;
//!
//! let giro = client.subscribe::<Payment>("payments_by_account", ["A"]).await?;
//! client.sync_now(Duration::from_secs(10)).await?; // waits for the subscription's load too
//! let payments = client.list::<Payment>().await?; // only account A's
//! client.unsubscribe(&giro, Duration::from_secs(300)).await?; // warm for 5 minutes
//! # Ok(()) }
//! ```
//!
//! How it works (the outbox lifecycle, the apply rules, the clock) is in
//! `docs/offline-client.md`; in short:
//!
//! - [`outbox`]: a local write and its outbox entry are one transaction; entries go
//!   pending → processing → removed on ACK, back to pending with backoff on a retryable
//!   NACK, a timeout or a disconnect, and to failed (kept, with the reason) on a permanent
//!   NACK or after too many attempts. Pending entries of one entity are coalesced.
//! - Apply rules: an incoming change is applied unless the entity has a pending or
//!   processing local change; the server's answer to that change settles the entity.
//! - [`clock`]: a hybrid logical clock, corrected by the server's time, so an edit is
//!   always newer than the version it was made on.
//!
//! Layering: the client's core (replica, outbox, the session that speaks the protocol)
//! talks to the network only through [`transport`]: a `Stream` of frames in and a `Sink`
//! of frames out, opened by a [`transport::Connector`]. The WebSocket adapter over
//! tokio-tungstenite is the default connector; [`Builder::connector`] replaces it (the
//! repository's simulation drives the real client over a simulated network that way).
//!
//! Credentials: [`Builder::token`] sends one bearer token; [`Builder::token_provider`]
//! asks a [`credentials::TokenProvider`] before every connection attempt and again after
//! a 401 or 403; credentials refused twice in a row stop the client with
//! [`status::Connection::Refused`] instead of retrying for ever.
//!
//! Features: `websocket` (default) is the WebSocket adapter; without it every client needs
//! [`Builder::connector`]. `rustls` (default, implies `websocket`) enables `wss://` URLs
//! through rustls with the Mozilla root certificates; without it only `ws://` works.

pub mod backoff;
mod client;
pub mod clock;
mod connection;
pub mod credentials;
mod error;
pub mod event;
pub mod outbox;
pub mod query;
mod replica;
pub mod status;
pub mod subscription;
pub mod watch;

#[doc(hidden)]
pub mod __fuzz {
    //! Entry points for the fuzz targets of the repository's `fuzz/` crate. Not part of the
    //! API: it may change in any release.
    //!
    //! ```
    //! assert!(sync_client::__fuzz::decode_server_message(r#"{"type":"status","status":"online"}"#));
    //! assert!(!sync_client::__fuzz::decode_server_message("not json"));
    //! ```

    /// Decodes a text frame from the server exactly as the connection does; true when the
    /// client acts on it (false for what it ignores).
    pub fn decode_server_message(text: &str) -> bool {
        crate::connection::wire::decode(text).is_some()
    }
}

pub use client::{Builder, Client};
pub use connection::transport;
pub use error::{Error, Result};
pub use event::Event;
pub use status::Status;
