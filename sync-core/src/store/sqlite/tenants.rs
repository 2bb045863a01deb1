//! The cache of open tenant databases: opened once on first use, closed when idle or when
//! the bound on open databases needs room.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::OnceCell;

use super::writer::Writer;
use super::{Config, Inner};
use crate::entity::Registry;
use crate::error::{Error, Result};
use crate::tenant::TenantId;

/// One open tenant database: a single writer, so sequence numbers follow commit order, and
/// a pool of read-only connections.
pub(super) struct TenantDb {
    pub(super) writer: Writer,
    pub(super) readers: SqlitePool,
    pub(super) path: PathBuf,
}

impl TenantDb {
    /// Opens (creating if needed) the database at `path` and brings its schema up to the
    /// registered entities.
    ///
    /// A failure for lack of resources (too many open files in the process or the system,
    /// SQLite's `CANTOPEN` that follows from them) is [`Error::Unavailable`]: retryable.
    pub(super) async fn open(
        path: PathBuf,
        config: &Config,
        registry: &Registry,
    ) -> Result<TenantDb> {
        TenantDb::open_inner(path, config, registry)
            .await
            .map_err(for_lack_of_resources)
    }

    async fn open_inner(path: PathBuf, config: &Config, registry: &Registry) -> Result<TenantDb> {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(config.synchronous.into())
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false)
            .pragma("cache_size", CACHE_SIZE)
            .statement_cache_capacity(READER_STATEMENT_CACHE);
        // The schema is prepared with sqlx, which `Tables` shares with client replicas;
        // the writes then go through the writer's own connection.
        let mut connection = options.connect().await?;
        super::schema::prepare(&mut connection, registry).await?;
        connection.close().await?;
        let writer = {
            let path = path.clone();
            let level = config.synchronous;
            tokio::task::spawn_blocking(move || Writer::open(&path, level))
                .await
                .map_err(|error| {
                    crate::Error::Unavailable(format!("opening its writer failed: {error}"))
                })??
        };
        let readers = SqlitePoolOptions::new()
            .max_connections(config.max_readers)
            .min_connections(0)
            .idle_timeout(Some(READER_IDLE_TIMEOUT))
            .connect_lazy_with(options.read_only(true));
        tracing::debug!(path = %path.display(), "opened tenant database");
        Ok(TenantDb {
            writer,
            readers,
            path,
        })
    }
}

/// SQLite's page cache per connection, as `PRAGMA cache_size` (negative: KiB): 512 KiB
/// instead of SQLite's 2 MiB, so a large tenant's three connections hold at most 1.5 MiB
/// of cached pages. Durability does not depend on it (WAL and `synchronous` stay).
pub(super) const CACHE_SIZE: &str = "-512";

/// Prepared statements a read connection keeps (sqlx keeps 100 by default): a read
/// prepares a few statements per table.
const READER_STATEMENT_CACHE: usize = 16;

/// After how long unused a read connection is closed: an open tenant that is only written
/// to (its sessions caught up) then holds its writer alone.
const READER_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// `error` as [`Error::Unavailable`] when it comes from a lack of file descriptors, else
/// unchanged.
fn for_lack_of_resources(error: Error) -> Error {
    if lacks_resources(&error) {
        tracing::warn!(%error, "cannot open a tenant database for lack of resources");
        Error::Unavailable(format!("out of resources, retry later: {error}"))
    } else {
        error
    }
}

/// Whether `error` (or what caused it) is `EMFILE`/`ENFILE` or SQLite's `CANTOPEN`.
fn lacks_resources(error: &Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(EMFILE | ENFILE))
        {
            return true;
        }
        if let Some(sqlx::Error::Database(database)) = current.downcast_ref::<sqlx::Error>()
            && database
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| code & 0xff == SQLITE_CANTOPEN)
        {
            return true;
        }
        if let Some(rusqlite::Error::SqliteFailure(failure, _)) =
            current.downcast_ref::<rusqlite::Error>()
            && failure.code == rusqlite::ErrorCode::CannotOpen
        {
            return true;
        }
        cause = current.source();
    }
    error.to_string().contains("Too many open files")
}

/// SQLite's primary result code for a file it cannot open.
const SQLITE_CANTOPEN: i32 = 14;

struct Slot {
    db: OnceCell<Arc<TenantDb>>,
    /// Milliseconds since the cache's epoch at the last use.
    last_used: AtomicU64,
}

pub(super) struct Tenants {
    slots: Mutex<HashMap<TenantId, Arc<Slot>>>,
    max_open: usize,
    epoch: Instant,
}

impl Tenants {
    pub(super) fn new(max_open: usize) -> Tenants {
        Tenants {
            slots: Mutex::new(HashMap::new()),
            max_open,
            epoch: Instant::now(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The open database of `tenant`, opening it with `open` if needed. Concurrent callers
    /// for one tenant share a single open; a failed open is retried by the next caller.
    pub(super) async fn get_or_open<F, Fut>(
        &self,
        tenant: &TenantId,
        open: F,
    ) -> Result<Arc<TenantDb>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TenantDb>>,
    {
        let slot = {
            let mut slots = self.lock();
            let slot = slots
                .entry(tenant.clone())
                .or_insert_with(|| {
                    Arc::new(Slot {
                        db: OnceCell::new(),
                        last_used: AtomicU64::new(0),
                    })
                })
                .clone();
            slot.last_used.store(self.now(), Ordering::Relaxed);
            if slots.len() > self.max_open {
                evict_least_recently_used(&mut slots, self.max_open, tenant);
            }
            slot
        };
        let db = slot
            .db
            .get_or_try_init(|| async { open().await.map(Arc::new) })
            .await?;
        Ok(db.clone())
    }

    /// Takes `tenant` out of the cache; the caller closes what it returns.
    pub(super) fn remove(&self, tenant: &TenantId) -> Option<Arc<TenantDb>> {
        let slot = self.lock().remove(tenant)?;
        slot.db.get().cloned()
    }

    /// Every open database.
    pub(super) fn open_databases(&self) -> Vec<Arc<TenantDb>> {
        self.lock()
            .values()
            .filter_map(|slot| slot.db.get().cloned())
            .collect()
    }

    /// Closes every database unused for `timeout` and not in use now.
    pub(super) fn close_idle(&self, timeout: Duration) {
        let now = self.now();
        let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let mut slots = self.lock();
        let idle: Vec<TenantId> = slots
            .iter()
            .filter(|(_, slot)| {
                now.saturating_sub(slot.last_used.load(Ordering::Relaxed)) >= timeout
                    && is_unused(slot)
            })
            .map(|(tenant, _)| tenant.clone())
            .collect();
        for tenant in idle {
            if let Some(slot) = slots.remove(&tenant) {
                close(slot);
            }
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Arc<Slot>>> {
        // The map stays consistent even if a holder panicked: every update is one call.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unused: no caller holds the slot or its database beyond the cache itself.
fn is_unused(slot: &Arc<Slot>) -> bool {
    Arc::strong_count(slot) == 1 && slot.db.get().is_none_or(|db| Arc::strong_count(db) == 1)
}

fn evict_least_recently_used(
    slots: &mut HashMap<TenantId, Arc<Slot>>,
    max_open: usize,
    keep: &TenantId,
) {
    let mut candidates: Vec<(u64, TenantId)> = slots
        .iter()
        .filter(|(tenant, slot)| *tenant != keep && is_unused(slot))
        .map(|(tenant, slot)| (slot.last_used.load(Ordering::Relaxed), tenant.clone()))
        .collect();
    candidates.sort_unstable();
    let excess = slots.len().saturating_sub(max_open);
    for (_, tenant) in candidates.into_iter().take(excess) {
        if let Some(slot) = slots.remove(&tenant) {
            close(slot);
        }
    }
}

fn close(slot: Arc<Slot>) {
    if let Some(db) = Arc::into_inner(slot).and_then(|slot| slot.db.into_inner()) {
        // Closing the pool waits for its connections; do not hold the cache lock for it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                db.readers.close().await;
                db.writer.close().await;
            });
        }
    }
}

/// How often open tenants are purged of expired tombstones.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Closes idle databases, and hourly purges expired tombstones, until the store is dropped.
pub(super) fn spawn_idle_sweep(inner: Weak<Inner>) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let period = (strong.config.idle_timeout / 2).max(Duration::from_secs(1));
    drop(strong);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.tick().await;
        let mut last_purge = Instant::now();
        loop {
            ticks.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            if last_purge.elapsed() >= PURGE_INTERVAL {
                last_purge = Instant::now();
                let store = super::SqliteStore {
                    inner: inner.clone(),
                };
                match store.purge_expired().await {
                    Ok(removed) => tracing::debug!(removed, "purged expired tombstones"),
                    Err(error) => tracing::warn!(%error, "purging expired tombstones failed"),
                }
            }
            inner.tenants.close_idle(inner.config.idle_timeout);
        }
    });
}
