//! Temporary SQLite stores.

use sync_core::Registry;
use sync_core::store::sqlite::{SqliteStore, Synchronous};

/// A store of [`entities::registry`](crate::entities::registry) in a fresh directory.
pub async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    sqlite_of(crate::entities::registry()).await
}

/// A store of `registry` in a fresh directory, kept as long as the returned directory.
pub async fn sqlite_of(registry: Registry) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), registry).await;
    (dir, store)
}

/// A store of `registry` in `dir` (again, as a restarted server opens it).
/// `Synchronous::Off`: durability is not what tests built on this test.
pub async fn open(dir: &std::path::Path, registry: Registry) -> SqliteStore {
    SqliteStore::builder(dir, registry)
        .synchronous(Synchronous::Off)
        .open()
        .await
        .unwrap()
}
