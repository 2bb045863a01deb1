//! Partial sync over the real wire, on both stores (SQLite and PostgreSQL): streams of
//! client-chosen keys (`buckets`) and streams keyed by the principal's memberships
//! (`access`).

mod access;
mod buckets;
mod wire;
