//! The engine: routes every change to its tenant's writer and publishes what commits.
//!
//! One writer task per active tenant owns that tenant's writes. Sessions submit batches; the
//! writer takes every batch waiting for its tenant, from all sessions, and commits them in
//! one store transaction (group commit), so throughput does not pay one fsync per change.
//! Only after the commit does each submitter get its outcomes (its ACKs), and the applied
//! changes go to the [`Hub`] for the tenant's other sessions. A writer idle for
//! [`Config::writer_idle`] stops; the next change starts a new one.
//!
//! With several server nodes on one database, give each engine a [`Bus`] with
//! [`Engine::with_bus`]: every node then delivers every change committed by any node to its
//! own sessions of that tenant, exactly once and in sequence order (see [`crate::bus`]).
//! Without a bus ([`Engine::new`]) the writer hands its changes straight to the hub.
//!
//! Server code (REST handlers, jobs) writes through [`Engine::put`] and [`Engine::delete`]
//! (or [`Engine::write`] for several typed changes at once), so its changes are sequenced,
//! broadcast and bused exactly like a client's; reads are typed too ([`Engine::get`],
//! [`Engine::list`], [`Engine::state`], [`Engine::changes_since`]).
//!
//! Every write, a session's or server code's, passes the registry's
//! [rules](crate::entity::rules) first: [`Engine::submit_as`] screens each change for its
//! [`Actor`] before the writer sees it, and the writer hands what it applied to the
//! after-commit rules on a task of their own.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use sync_core::engine::{Config, Engine};
//! use sync_core::hub::Hub;
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::{Registry, TenantId};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Registry::default()).open().await.unwrap();
//! let engine = Engine::new(store, Hub::new(256), Config::default());
//! let tenant = TenantId::new("t").unwrap();
//! let batch = engine.submit(&tenant, None, Vec::new()).await.unwrap();
//! assert_eq!(batch.cursor, 0);
//! # });
//! ```

pub mod access;
mod committed;
mod relay;
mod snapshot;
mod typed;
mod writer;

pub use snapshot::LoadError;
pub use typed::TypedPage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use crate::bus::{Bus, NodeId, NoticeKind};
use crate::change::Change;
use crate::entity::{Actor, Syncable};
use crate::hub::{Cut, Hub, SessionId, Subscription};
use crate::outcome::{BatchOutcome, Outcome};
use crate::store::{Store, StoreExt};
use crate::tenant::TenantId;

use self::relay::Relay;
use self::writer::{Job, Queue};

/// Engine limits.
#[derive(Debug, Clone)]
pub struct Config {
    /// Changes that may wait for one tenant's writer, counted over every waiting batch;
    /// a submission that does not fit is refused as overloaded. A batch larger than the
    /// bound is admitted when the queue is empty. Default 10,000.
    pub writer_queue: usize,
    /// The most changes one group commit takes. Default 2000.
    pub max_group: usize,
    /// After how long without work a tenant's writer stops. Default 60 s.
    pub writer_idle: Duration,
    /// With a bus: how often each tenant with sessions on this node compares the store's
    /// cursor with what it delivered, the safety net when notices are lost. Default 5 s.
    pub bus_check: Duration,
    /// With a bus: notices that may wait for the bus; beyond it they are dropped and the
    /// other nodes catch up from the feed. Default 4096.
    pub bus_queue: usize,
    /// How many initial loads (`request_initial_data`) may be in progress at once, across
    /// every tenant, from reading the rows until the transport has taken the frame (which
    /// is the size of the tenant's data). At least 1. Default 4.
    pub max_snapshots: usize,
    /// How long an initial load waits for a free slot before it is refused with the
    /// retryable [`LoadError::Busy`]. Default 10 s.
    pub snapshot_wait: Duration,
    /// Committed changes that may wait for the [after-commit
    /// rules](crate::entity::Rules::after_commit); beyond it they are dropped, logged and
    /// counted. Default 10,000.
    pub after_commit_queue: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            writer_queue: 10_000,
            max_group: 2000,
            writer_idle: Duration::from_secs(60),
            bus_check: Duration::from_secs(5),
            bus_queue: 4096,
            max_snapshots: 4,
            snapshot_wait: Duration::from_secs(10),
            after_commit_queue: 10_000,
        }
    }
}

/// Why a submission got no outcomes. Every change of it is unprocessed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// Too many batches wait for the tenant's writer, or the tenant database is
    /// unavailable for now ([`crate::Error::Unavailable`]: out of file descriptors, closed
    /// meanwhile); nothing was committed; retry later.
    #[error(
        "the server is overloaded (too many changes waiting, or the tenant database cannot be opened now); retry later"
    )]
    Overloaded,
    /// The store failed; nothing of the group was committed; retrying may succeed.
    #[error("the store failed: {0}")]
    Storage(String),
    /// The entity could not be turned into a change (its serialisation failed); nothing
    /// was submitted.
    #[error("invalid entity: {0}")]
    Invalid(String),
}

/// The engine. Cheap to clone.
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct Inner<S> {
    store: S,
    hub: Arc<Hub>,
    config: Config,
    writers: Mutex<HashMap<TenantId, Queue>>,
    /// The cross-node delivery, when there is a bus.
    relay: Option<Relay>,
    node: NodeId,
    snapshots: Arc<Semaphore>,
    /// The after-commit rules' queue, started with the first commit that needs it.
    committed: committed::Dispatch,
}

impl<S: Store> Engine<S> {
    /// An engine writing to `store` and publishing to `hub`: a single node, no bus.
    pub fn new(store: S, hub: Arc<Hub>, config: Config) -> Engine<S> {
        Engine {
            inner: Arc::new(Inner {
                store,
                hub,
                snapshots: Arc::new(Semaphore::new(
                    config.max_snapshots.clamp(1, Semaphore::MAX_PERMITS),
                )),
                committed: committed::Dispatch::new(config.after_commit_queue),
                config,
                writers: Mutex::new(HashMap::new()),
                relay: None,
                node: NodeId::random(),
            }),
        }
    }

    /// An engine that is one node of several on one database, told of the others' commits
    /// by `bus` and telling them of its own. Its node id is drawn at random.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: it starts the tasks that publish to and listen on the bus.
    pub fn with_bus(store: S, hub: Arc<Hub>, config: Config, bus: Arc<dyn Bus>) -> Engine<S> {
        let (relay, outbox) = Relay::new(bus, config.bus_queue, config.bus_check);
        let node = relay.node;
        let inner = Arc::new(Inner {
            store,
            hub,
            snapshots: Arc::new(Semaphore::new(
                config.max_snapshots.clamp(1, Semaphore::MAX_PERMITS),
            )),
            committed: committed::Dispatch::new(config.after_commit_queue),
            config,
            writers: Mutex::new(HashMap::new()),
            relay: Some(relay),
            node,
        });
        relay::start(&inner, outbox);
        Engine { inner }
    }

    /// This engine's id on the bus.
    pub fn node(&self) -> NodeId {
        self.inner.node
    }

    /// Subscribes a session to `tenant`'s changes, from every node when there is a bus.
    /// Returns once delivery is set up: whatever the session reads from the store
    /// afterwards, every later change reaches it.
    pub async fn subscribe(&self, tenant: &TenantId) -> Subscription {
        self.subscribe_for(tenant, "").await
    }

    /// [`subscribe`](Self::subscribe) for a session of `subject`, which
    /// [`close_subject`](Self::close_subject) closes.
    pub async fn subscribe_for(&self, tenant: &TenantId, subject: &str) -> Subscription {
        let subscription = self.inner.hub.subscribe_for(tenant, subject);
        relay::track(&self.inner, tenant).await;
        subscription
    }

    /// Closes every session of `tenant` on this node and, with a bus, on every node, e.g.
    /// when the tenant is deleted.
    pub fn close_tenant(&self, tenant: &TenantId) {
        self.inner.hub.cut_tenant(tenant, Cut::TenantDeleted);
        if let Some(relay) = &self.inner.relay {
            relay.announce(tenant, NoticeKind::TenantDeleted);
        }
    }

    /// Closes the sessions of `subject` in `tenant` on this node and, with a bus, on every
    /// node, e.g. when the subject is removed from the tenant or gets another role: they
    /// end with close 1008, and a client that still has access reconnects under its new
    /// role. Returns how many this node closed.
    pub fn close_subject(&self, tenant: &TenantId, subject: &str) -> usize {
        let key = crate::hub::subject_key(subject);
        let closed = self.inner.hub.cut_subject(tenant, key, Cut::AccessChanged);
        if let Some(relay) = &self.inner.relay {
            relay.announce(tenant, NoticeKind::AccessChanged { subject: key });
        }
        closed
    }

    /// How many tenants this node delivers other nodes' changes to (0 without a bus).
    pub fn tracked_tenants(&self) -> usize {
        self.inner.relay.as_ref().map_or(0, Relay::tracked)
    }

    /// Creates or replaces `entity` from server code, under last-write-wins, exactly as if
    /// a client had written it: grouped, sequenced, published to the tenant's sessions and
    /// announced on the bus. A rejection is an [`Outcome::Rejected`].
    pub async fn put<T: Syncable>(
        &self,
        tenant: &TenantId,
        entity: &T,
    ) -> Result<Outcome, SubmitError> {
        let change =
            Change::upsert(entity).map_err(|error| SubmitError::Invalid(error.to_string()))?;
        self.submit_one(tenant, change).await
    }

    /// Deletes the entity of type `T` with `id` from server code, leaving a tombstone
    /// versioned now, exactly as if a client had deleted it.
    pub async fn delete<T: Syncable>(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Outcome, SubmitError> {
        self.submit_one(tenant, Change::delete(T::ENTITY, id)).await
    }

    /// The live entity of type `T` with `id`, read from the store.
    pub async fn get<T: Syncable>(&self, tenant: &TenantId, id: &str) -> crate::Result<Option<T>> {
        self.inner.store.get::<T>(tenant, id).await
    }

    /// Every live entity of type `T`, read from the store, ordered by id.
    pub async fn list<T: Syncable>(&self, tenant: &TenantId) -> crate::Result<Vec<T>> {
        self.inner.store.list::<T>(tenant).await
    }

    async fn submit_one(&self, tenant: &TenantId, change: Change) -> Result<Outcome, SubmitError> {
        let batch = self.submit(tenant, None, vec![change]).await?;
        batch
            .outcomes
            .into_iter()
            .next()
            .ok_or_else(|| SubmitError::Storage("the store returned no outcome".to_owned()))
    }

    /// The store, for reads.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// Commits `changes` through the tenant's writer as the server's own code
    /// ([`Actor::server`]); see [`submit_as`](Self::submit_as).
    pub async fn submit(
        &self,
        tenant: &TenantId,
        origin: Option<SessionId>,
        changes: Vec<Change>,
    ) -> Result<BatchOutcome, SubmitError> {
        self.submit_as(&Actor::server(), tenant, origin, changes)
            .await
    }

    /// Why `actor` has, or has not, the row `entity_type`/`id` of `tenant` (see
    /// [`access::explain`]); `None` for an unknown entity.
    pub async fn explain(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        entity_type: &str,
        id: &str,
    ) -> crate::Result<Option<access::Explanation>> {
        access::explain(&self.inner.store, actor, tenant, entity_type, id).await
    }

    /// Commits `changes`, made by `actor`, through the tenant's writer, grouped with
    /// whatever else waits, and returns their outcomes once committed. Each change first
    /// passes the registry's [rules](crate::entity::rules); a refused one is rejected with
    /// the refusal (unless it is a retry of a processed change). The applied ones are
    /// published to every session of the tenant except `origin`.
    ///
    /// The job is queued in the future's first poll, before it awaits anything, so futures
    /// polled in turn queue their changes in that order.
    pub async fn submit_as(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        origin: Option<SessionId>,
        changes: Vec<Change>,
    ) -> Result<BatchOutcome, SubmitError> {
        let refusals = self.screen(actor, tenant, &changes);
        // Writes to rows of streams keyed by the principal are checked by the writer, just
        // before it applies them, so no other commit of the tenant comes in between.
        let check = access::needs_check(self.inner.store.registry(), actor, &changes);
        let mut job = Job::new(origin, changes, refusals);
        if check {
            job.actor = Some(Box::new(actor.clone()));
        }
        // A writer may stop between our lookup and our send; its queue is then closed and
        // the job comes back unprocessed, so trying again with a new writer is safe.
        for _ in 0..3 {
            let (reply, outcome) = oneshot::channel();
            job.reply = Some(reply);
            let queue = self.writer(tenant);
            match queue.push(job) {
                Ok(()) => match outcome.await {
                    Ok(result) => return result,
                    Err(_) => {
                        return Err(SubmitError::Storage(
                            "the tenant's writer stopped".to_owned(),
                        ));
                    }
                },
                Err(writer::Refused::Full) => return Err(SubmitError::Overloaded),
                Err(writer::Refused::Closed(returned)) => {
                    self.forget_writer(tenant, &queue);
                    job = returned;
                }
            }
        }
        Err(SubmitError::Storage(
            "the tenant's writer could not be started".to_owned(),
        ))
    }

    /// The rules' refusals of `changes`: empty when the registry has no rules or refuses
    /// none.
    fn screen(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        changes: &[Change],
    ) -> Vec<Option<crate::outcome::Rejection>> {
        let registry = self.inner.store.registry();
        if !registry.has_rules() {
            return Vec::new();
        }
        let refusals: Vec<_> = changes
            .iter()
            .map(|change| registry.screen(actor, tenant, change))
            .collect();
        if refusals.iter().all(Option::is_none) {
            Vec::new()
        } else {
            refusals
        }
    }

    /// How many tenant writers run now.
    pub fn active_writers(&self) -> usize {
        self.writers().len()
    }

    fn writer(&self, tenant: &TenantId) -> Queue {
        let mut writers = self.writers();
        if let Some(queue) = writers.get(tenant).filter(|queue| !queue.is_closed()) {
            return queue.clone();
        }
        let (queue, receiver) = Queue::new(self.inner.config.writer_queue);
        writers.insert(tenant.clone(), queue.clone());
        tokio::spawn(writer::run(self.inner.clone(), tenant.clone(), receiver));
        queue
    }

    fn forget_writer(&self, tenant: &TenantId, stale: &Queue) {
        let mut writers = self.writers();
        if writers.get(tenant).is_some_and(|queue| queue.same(stale)) {
            writers.remove(tenant);
        }
    }

    fn writers(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Queue>> {
        self.inner
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
