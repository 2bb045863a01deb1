//! `sync-axum`: serves a `sync-core` store over WebSocket with axum.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::StreamExt;
//! use sync_axum::jwt::{JwtAuthenticator, JwtKeys};
//! use sync_axum::{Limits, SyncServer};
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::Registry;
//! use tokio_tungstenite::tungstenite::client::IntoClientRequest;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let registry = Registry::builder().build().unwrap(); // .entity::<Account>() ...
//! let store = SqliteStore::builder(dir.path(), registry).open().await.unwrap();
//! let keys = JwtKeys::from_secret(b"a long random secret of at least 32 bytes!");
//! let server = SyncServer::builder(store, JwtAuthenticator::new(keys.clone()))
//!     .path("/ws/{tenant_id}")
//!     .limits(Limits::default())
//!     .build();
//! let shutdown = server.shutdown_handle();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let address = listener.local_addr().unwrap();
//! tokio::spawn(sync_axum::serve(listener, server.router()).into_future());
//!
//! // A client with a token for tenant "household" is greeted with `status: online`.
//! let token = keys.issue("user-1", &["household"], std::time::Duration::from_secs(60)).unwrap();
//! let mut request = format!("ws://{address}/ws/household").into_client_request().unwrap();
//! request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
//! let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
//! let greeting = socket.next().await.unwrap().unwrap();
//! assert_eq!(greeting.to_text().unwrap(), r#"{"type":"status","status":"online"}"#);
//!
//! // At shutdown (e.g. on Ctrl-C) every session gets `status: shutdown`, then close 1001.
//! shutdown.shutdown();
//! let farewell = socket.next().await.unwrap().unwrap();
//! assert_eq!(farewell.to_text().unwrap(), r#"{"type":"status","status":"shutdown"}"#);
//! # });
//! ```
//!
//! Each connection is authenticated by an [`Authenticator`] before the
//! upgrade (401 or 403 with a `detail` otherwise), held to [`Limits`], and served by a
//! `sync_core` session: `status: online` first, every PROTOCOL.md message, the tenant's
//! changes from other connections, a ping every 30 s, and `status: shutdown` before a
//! graceful close. `GET /health` reports the connection and writer counts.
//!
//! # Serving
//!
//! Serve the router with [`serve`] rather than `axum::serve`: it adds a deadline to every
//! stage before a request reaches the router (TLS handshake, request head, idle keep-alive,
//! handler with body), a budget of open connections derived from the file-descriptor
//! limit ([`FdBudget`]; raise the soft limit first with [`FdBudget::raise`]), and TLS
//! ([`Serve::tls`] with [`tls::server_config`]), HTTPS and WSS on one port:
//!
//! ```no_run
//! # async fn run(router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! let budget = sync_axum::FdBudget::raise();
//! let limits = sync_axum::HttpLimits {
//!     max_open_connections: budget.connections,
//!     ..sync_axum::HttpLimits::default()
//! };
//! let tls = sync_axum::tls::server_config("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! sync_axum::serve(listener, router).limits(limits).tls(tls).await?;
//! # Ok(()) }
//! ```
//!
//! Authentication: [`jwt::JwtAuthenticator`] checks HS256 tokens an app issues itself
//! with [`jwt::JwtKeys`]; [`jwt::JwksAuthenticator`] checks the asymmetric tokens (RS256,
//! ES256, EdDSA, …) of an identity provider against its JSON Web Key Set ([`jwt::Jwks`],
//! from a file or an `https://` URL, cached, refreshed on an unknown key id at most every
//! 30 s, bounded in size and fetch time), with the issuer, audience, leeway and the claim
//! that names the tenants configurable. An [`Authenticator`] that cannot check
//! credentials now answers [`Refusal::Unavailable`]: 503 with `Retry-After`, which clients
//! retry, where 401 and 403 make them stop.
//!
//! Features: `jwks` (default) is [`jwt::Jwks`] and [`jwt::JwksAuthenticator`], fetching
//! key sets with reqwest over rustls; without it only HS256 tokens and custom
//! authenticators remain.

pub mod auth;
mod fd;
pub mod jwt;
mod limits;
mod listener;
pub mod metrics;
mod revoke;
mod serve;
mod server;
mod socket;
pub mod tls;

pub use auth::{Authenticator, Principal, Refusal};
pub use fd::FdBudget;
pub use limits::Limits;
pub use listener::no_delay;
pub use serve::{HttpLimits, Serve, serve};
pub use server::{Builder, ShutdownHandle, SyncServer};
