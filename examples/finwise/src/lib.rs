//! The FinWise example server: the backend of the FinWise 0.4 personal-finance frontend,
//! built on `sync-core` and `sync-axum`.

pub mod entities;
