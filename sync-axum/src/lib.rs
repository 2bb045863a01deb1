//! `sync-axum`: serves a `sync-core` engine over WebSocket with axum.

pub mod auth;
pub mod jwt;
