//! `sync-axum`: serves a `sync-core` store over WebSocket with axum.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use sync_axum::jwt::{JwtAuthenticator, JwtKeys};
//! use sync_axum::{Limits, SyncServer};
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::Registry;
//!
//! let registry = Registry::builder().build()?; // .entity::<Account>() ...
//! let store = SqliteStore::builder("data", registry).open().await?;
//! let keys = JwtKeys::from_secret(b"a long random secret of at least 32 bytes!");
//! let server = SyncServer::builder(store, JwtAuthenticator::new(keys))
//!     .path("/ws/{tenant_id}")
//!     .limits(Limits::default())
//!     .build();
//! let shutdown = server.shutdown_handle();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, server.router())
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         shutdown.shutdown(); // every session gets `status: shutdown`, then close 1001
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Each connection is authenticated by an [`Authenticator`](auth::Authenticator) before the
//! upgrade (401 or 403 with a `detail` otherwise), held to [`Limits`], and served by a
//! `sync_core` session: `status: online` first, every PROTOCOL.md message, the tenant's
//! changes from other connections, a ping every 30 s, and `status: shutdown` before a
//! graceful close. `GET /health` reports the connection and writer counts.

pub mod auth;
pub mod jwt;
mod limits;
mod server;
mod socket;

pub use limits::Limits;
pub use server::{Builder, ShutdownHandle, SyncServer};
