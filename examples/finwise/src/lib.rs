//! The FinWise example server: the backend of the FinWise 0.4 personal-finance frontend,
//! built on `sync-core` and `sync-axum`.

pub mod authenticator;
pub mod config;
pub mod db;
pub mod entities;
mod error;
pub mod password;
pub mod secret;
pub mod session;

pub use authenticator::FinwiseAuthenticator;
pub use config::Config;
pub use error::{Error, Result};
