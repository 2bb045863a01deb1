//! Fixtures shared by the workspace's tests, one definition each, so that a test crate never
//! declares its own copy of them. Not published; a dev-dependency only.
//!
//! - [`access`]: `assert_visible`, the test helper of the explain API of partial sync.
//! - [`entities`]: the entities the tests sync (`Account`, `AccountGroup`, `Tag`) and their
//!   registry.
//! - `backend` (feature `postgres`): a fresh store of either backend per test, and
//!   `store_tests!` to run one test body on both.
//! - [`store`]: a temporary SQLite store; [`gated::Gated`], a store whose applies and
//!   snapshots a test holds and releases.
//! - [`proxy::Proxy`]: a TCP proxy a test cuts and restores to simulate an outage.
//! - [`ws`]: a WebSocket test client speaking the wire protocol as raw JSON, as a browser
//!   does.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use sync_core::StoreExt;
//! use sync_testkit::entities::Account;
//!
//! let (_dir, store) = sync_testkit::store::sqlite().await;
//! let tenant = sync_testkit::tenant("household");
//! store.put(&tenant, &Account::new("a1", "Cash", 10.0)).await.unwrap();
//! let accounts: Vec<Account> = store.list(&tenant).await.unwrap();
//! assert_eq!(accounts[0].name, "Cash");
//! # }
//! ```

pub mod access;
#[cfg(feature = "postgres")]
pub mod backend;
pub mod entities;
pub mod gated;
pub mod proxy;
pub mod store;
pub mod ws;

use sync_core::TenantId;

/// A tenant id; panics on an invalid name, which is a mistake in the test.
pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// The database of the PostgreSQL tests: `SYNC_TEST_DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("SYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A unique lowercase name starting with `prefix`, to keep concurrent tests apart on shared
/// services (a PostgreSQL schema, a NATS subject).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!(
        "{prefix}_{}_{nanos:x}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
