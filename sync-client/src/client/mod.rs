//! The client handle: typed reads and writes on the replica, status, events, and control
//! of the sync.

mod builder;
mod expiry;
pub(crate) mod shared;
mod subscribe;

use std::sync::Arc;
use std::time::Duration;

use sync_core::Syncable;
use sync_core::entity::Handler;
use sync_core::version::Version;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use self::builder::Builder;
use self::shared::Shared;
use crate::connection::Command;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::outbox::{self, Entry};
use crate::query::Query;
use crate::replica::{local, meta};
use crate::status::Status;
use crate::watch::Watch;

/// An offline-first client of one tenant: a local replica that every call reads and
/// writes, and a background task that syncs it with the server. Cheap to clone; the task
/// stops on [`close`](Client::close) or when the last clone is dropped.
///
/// Every call except [`sync_now`](Client::sync_now) works without a server.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Ends warm subscriptions when their TTL passes.
    expiry: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Entries in flight stay `processing` on disk and go back to pending at the next
        // start: their ids make sending them again safe.
        let task = self
            .task
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
        }
        let expiry = self
            .expiry
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(expiry) = expiry {
            expiry.abort();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.shared.config.url)
            .field("client_id", &self.inner.shared.client_id)
            .field("status", &*self.inner.shared.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client of the server at `url` (`ws://` or `wss://`).
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder::new(url)
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn handler<T: Syncable>(&self) -> Result<&dyn Handler> {
        self.shared()
            .replica
            .registry()
            .get(T::ENTITY)
            .ok_or(Error::UnknownEntity(T::ENTITY))
    }

    /// Stores `entity` in the replica and queues it for the server, in one transaction.
    /// Its `updated_at` is stamped by the client's clock, newer than the version it
    /// replaces; returns the entity as stored.
    pub async fn put<T: Syncable>(&self, entity: &T) -> Result<T> {
        let handler = self.handler::<T>()?;
        let shared = self.shared();
        let (stored, changed) = {
            let mut conn = shared.replica.lock().await?;
            let written = local::put(
                &mut conn,
                shared.replica.tables(),
                &shared.clock,
                handler,
                entity,
                shared.local_ms(),
            )
            .await?;
            shared.refresh_counts(&mut conn).await?;
            written
        };
        shared.wake.notify_one();
        shared.publish([changed]);
        Ok(stored)
    }

    /// Deletes the entity `id` of type `T` in the replica and queues the delete. Returns
    /// whether anything changed (`false` when the replica holds it as deleted already).
    pub async fn delete<T: Syncable>(&self, id: &str) -> Result<bool> {
        let handler = self.handler::<T>()?;
        let shared = self.shared();
        let changed = {
            let mut conn = shared.replica.lock().await?;
            let changed = local::delete(
                &mut conn,
                shared.replica.tables(),
                &shared.clock,
                handler,
                id,
                shared.local_ms(),
            )
            .await?;
            shared.refresh_counts(&mut conn).await?;
            changed
        };
        shared.wake.notify_one();
        let deleted = changed.is_some();
        shared.publish(changed);
        Ok(deleted)
    }

    /// The live entity `id` of type `T` in the replica.
    pub async fn get<T: Syncable>(&self, id: &str) -> Result<Option<T>> {
        let handler = self.handler::<T>()?;
        let shared = self.shared();
        let state = shared
            .replica
            .tables()
            .get(&mut *shared.replica.lock().await?, handler.entity(), id)
            .await?;
        match state {
            Some(state) if !state.deleted => decode(state.data, id).map(Some),
            _ => Ok(None),
        }
    }

    /// Every live entity of type `T` in the replica, ordered by id.
    pub async fn list<T: Syncable>(&self) -> Result<Vec<T>> {
        let handler = self.handler::<T>()?;
        let shared = self.shared();
        let states = shared
            .replica
            .tables()
            .list(&mut *shared.replica.lock().await?, handler.entity())
            .await?;
        states
            .into_iter()
            .map(|state| decode(state.data, &state.entity_id))
            .collect()
    }

    /// A query of the live entities of type `T` by their indexed fields (see
    /// [`query`](crate::query)).
    pub fn query<T: Syncable>(&self) -> Query<T> {
        Query::new(self.clone())
    }

    /// The changes of entities of type `T` applied to the replica from now on, local and
    /// remote, typed (see [`watch`](crate::watch)).
    pub fn watch<T: Syncable>(&self) -> Watch<T> {
        Watch::new(self.events())
    }

    /// The states `spec` selects.
    pub(crate) async fn query_effects(
        &self,
        spec: &sync_core::store::query::Query,
    ) -> Result<Vec<sync_core::outcome::Effect>> {
        let shared = self.shared();
        if shared.replica.registry().get(spec.entity()).is_none() {
            return Err(Error::UnknownEntity(spec.entity()));
        }
        shared
            .replica
            .tables()
            .query(&mut *shared.replica.lock().await?, spec)
            .await?
            .map_err(|error| Error::Query(error.to_string()))
    }

    /// A receiver of every change applied to the replica from now on, local and remote.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.shared().events.subscribe()
    }

    /// The client's status: connection state, outbox counts, last sync, last error.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.shared().status.subscribe()
    }

    /// Syncs now: connects at once if offline, catches up with the server, and sends
    /// every pending change (ending their backoff). Resolves when the outbox has nothing
    /// left to send or answer and a catch-up started after this call has finished.
    ///
    /// Fails with [`Error::Offline`] as soon as a connection attempt fails or the
    /// connection is lost, and with [`Error::Timeout`] after `timeout`; the sync goes on
    /// in the background either way. Failed entries do not count: see
    /// [`failed`](Client::failed).
    pub async fn sync_now(&self, timeout: Duration) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::SyncNow(reply))
            .await
            .map_err(|_| Error::Closed)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Puts every failed entry back to pending, with a fresh count of attempts. Returns
    /// how many.
    pub async fn retry_failed(&self) -> Result<usize> {
        let shared = self.shared();
        let count = {
            let mut conn = shared.replica.lock().await?;
            let count = outbox::retry_failed(&mut conn).await?;
            shared.refresh_counts(&mut conn).await?;
            count
        };
        shared.wake.notify_one();
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Removes every failed entry and puts each of their entities back to the state the
    /// server holds, as far as the replica knows it. Returns how many entries.
    pub async fn discard_failed(&self) -> Result<usize> {
        let shared = self.shared();
        let (count, events) = {
            let mut conn = shared.replica.lock().await?;
            let discarded = local::discard_failed(&mut conn, shared.replica.tables()).await?;
            shared.refresh_counts(&mut conn).await?;
            discarded
        };
        shared.publish(events);
        Ok(count)
    }

    /// The failed entries, oldest first, with the reason of each.
    pub async fn failed(&self) -> Result<Vec<Entry>> {
        outbox::list(
            &mut *self.shared().replica.lock().await?,
            Some(outbox::Status::Failed),
        )
        .await
    }

    /// Every outbox entry (pending, processing and failed), oldest first.
    pub async fn outbox(&self) -> Result<Vec<Entry>> {
        outbox::list(&mut *self.shared().replica.lock().await?, None).await
    }

    /// The change-feed cursor the replica has caught up to, as stored.
    pub async fn cursor(&self) -> Result<u64> {
        meta::cursor(&mut *self.shared().replica.lock().await?).await
    }

    /// This replica's id, sent to the server in `hello`; stable across restarts.
    pub fn client_id(&self) -> &str {
        &self.shared().client_id
    }

    /// The current time by the client's clock: the local clock corrected by the server's.
    pub fn server_now(&self) -> Version {
        self.shared().clock.server_now()
    }

    /// Whether no statement runs on the replica now: SQLite runs on a worker thread,
    /// outside tokio's clock, so a deterministic simulation waits for this between its
    /// steps. Not part of the API.
    #[doc(hidden)]
    pub fn __replica_idle(&self) -> bool {
        self.shared().replica.is_idle()
    }

    /// Closes the connection, stops the background task, and closes the replica. Entries
    /// in flight go back to pending and are sent by the next client of this database.
    /// Later calls on this client (and its clones) fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        let (done, closed) = oneshot::channel();
        if self.inner.commands.send(Command::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let expiry = self
            .inner
            .expiry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(expiry) = expiry {
            expiry.abort();
        }
        self.shared().replica.close().await
    }
}

pub(crate) fn decode<T: Syncable>(data: serde_json::Value, id: &str) -> Result<T> {
    serde_json::from_value(data).map_err(|error| Error::Decode {
        entity: T::ENTITY,
        id: id.to_owned(),
        detail: error.to_string(),
    })
}
