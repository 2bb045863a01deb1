//! A tenant's write connection: rusqlite (the same bundled SQLite as sqlx) run on a blocking
//! thread, one hand-off per batch.
//!
//! sqlx-sqlite runs every connection on a thread of its own and passes each statement and
//! each row through a channel, so a batch paid about `6 + rows / 32` round trips between
//! threads. Here the whole transaction (reads, decisions, writes, commit) is one closure,
//! with prepared statements cached on the connection, run in place on a multi-threaded
//! runtime ([`Writer::run_in_place`]) or else on tokio's blocking pool ([`Writer::run`]).
//! The closure runs to its end even if the caller stops waiting: a transaction is
//! committed whole or rolled back whole, never left half-done.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::Synchronous;
use crate::error::{Error, Result};

/// How many prepared statements the write connection keeps: every statement text of a
/// batch (per table: the upserts and tombstones of each chunk size, the look-up) stays
/// prepared for the common registries of up to about ten entities.
const STATEMENT_CACHE: usize = 128;

/// The write connection of one tenant database. Cheap to clone.
#[derive(Clone)]
pub(super) struct Writer {
    connection: Arc<Mutex<Option<Connection>>>,
}

impl Writer {
    /// Opens the database at `path` (which must exist, in WAL mode) for writing.
    pub(super) fn open(path: &Path, synchronous: Synchronous) -> Result<Writer> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let level = match synchronous {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        };
        connection.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {level}; PRAGMA foreign_keys = OFF; \
             PRAGMA cache_size = {cache};",
            cache = super::tenants::CACHE_SIZE
        ))?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Writer {
            connection: Arc::new(Mutex::new(Some(connection))),
        })
    }

    /// Runs `work` on the connection, on a blocking thread, after any work before it.
    pub(super) async fn run<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            // The connection stays usable after a panic in `work`: SQLite rolls back the
            // transaction the next `BEGIN` finds open, see `begin`.
            let mut guard = connection.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(connection) => work(connection),
                None => Err(Error::Unavailable("it was closed".to_owned())),
            }
        })
        .await
        .map_err(|error| Error::Unavailable(format!("its writer thread failed: {error}")))?
    }

    /// Runs `work` on the connection in place, borrowing what it needs: on a worker of a
    /// multi-threaded runtime, the worker hands its other tasks to another thread for the
    /// duration ([`tokio::task::block_in_place`]); elsewhere (a current-thread runtime)
    /// `None`, and the caller uses [`Writer::run`].
    pub(super) fn run_in_place<R>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<R>,
    ) -> Option<Result<R>> {
        let flavor = tokio::runtime::Handle::try_current().ok()?.runtime_flavor();
        if flavor != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        Some(tokio::task::block_in_place(|| {
            let mut guard = self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(connection) => work(connection),
                None => Err(Error::Unavailable("it was closed".to_owned())),
            }
        }))
    }

    /// Waits for the work in progress, then closes the connection; later work fails with
    /// [`Error::Unavailable`].
    pub(super) async fn close(&self) {
        let connection = self.connection.clone();
        let closed = tokio::task::spawn_blocking(move || {
            let taken = connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            drop(taken);
        });
        let _ = closed.await;
    }
}

/// Starts a write transaction: `BEGIN IMMEDIATE` takes the write lock up front, so reads
/// inside see what the writes replace. A transaction left open by a panic is rolled back
/// first. Dropping the returned transaction unfinished rolls it back.
pub(super) fn begin(connection: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    if !connection.is_autocommit() {
        connection.execute_batch("ROLLBACK")?;
    }
    Ok(connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}
