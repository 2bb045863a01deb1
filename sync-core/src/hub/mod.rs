//! The hub: delivers each committed change to every other session of its tenant.
//!
//! Publishing never waits. Each session has a queue bounded in messages and in bytes
//! ([`Hub::bounded`]); a session whose queue is full has fallen behind and is cut off (it reconnects and catches up from its cursor), so a
//! slow receiver can never stall the writer or grow memory without bound. A message is
//! serialised once and shared by every receiver.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use sync_core::hub::{Cut, Hub};
//! use sync_core::TenantId;
//!
//! let hub = Hub::new(2);
//! let tenant = TenantId::new("t").unwrap();
//! let mut origin = hub.subscribe(&tenant);
//! let mut other = hub.subscribe(&tenant);
//!
//! hub.publish(&tenant, Some(origin.id()), Arc::from("update"));
//! assert_eq!(&*other.recv().await.unwrap(), "update");
//! assert!(origin.try_recv().is_none(), "the origin does not get its own change");
//!
//! for _ in 0..3 {
//!     hub.publish(&tenant, None, Arc::from("flood"));
//! }
//! // The queue holds two; the third publication cuts the session off after them.
//! assert_eq!(&*other.recv().await.unwrap(), "flood");
//! assert_eq!(&*other.recv().await.unwrap(), "flood");
//! assert_eq!(other.recv().await.unwrap_err(), Cut::Lagged);
//! # });
//! ```

mod queue;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use self::queue::{Full, Queue};
use crate::entity::stream::Route;
use crate::outcome::Effect;
use crate::tenant::TenantId;
use sync_protocol::{BucketOp, Checkpoint, ServerMessage, StreamChange, StreamPage};

/// The byte bound of a session's queue with [`Hub::new`]: 4 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 4 << 20;

/// Identifies a session within the hub.
pub type SessionId = u64;

/// Why the hub stopped delivering to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The session's queue was full: it must reconnect and catch up from its cursor.
    Lagged,
    /// The tenant was deleted: the session must end.
    TenantDeleted,
    /// The server is shutting down.
    Shutdown,
    /// The session's subject lost its access to the tenant or had its role changed: the
    /// session must end; the client reconnects if it may.
    AccessChanged,
}

/// The key under which the hub finds a subject's sessions, the same on every node: a
/// 64-bit FNV-1a hash of the subject. Two subjects that share a key both lose their
/// sessions when one's access changes, which costs a reconnect, nothing more.
pub fn subject_key(subject: &str) -> u64 {
    subject.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

struct Subscriber {
    id: SessionId,
    /// [`subject_key`] of the session's subject.
    subject: u64,
    queue: Arc<Queue>,
    /// The entities this session receives through stream subscriptions only: their
    /// whole-tenant messages skip it.
    partial: Vec<&'static str>,
    /// The buckets it holds, to leave the index when it goes.
    buckets: Vec<Bucket>,
    /// Told when the subject's memberships changed: the session resolves its keys again.
    resolve: Arc<Notify>,
}

impl Drop for Subscriber {
    /// A subscriber the hub lets go of without a reason (the hub itself going away) ends
    /// its session as at shutdown.
    fn drop(&mut self) {
        self.queue.end(Cut::Shutdown);
    }
}

/// A bucket of partial sync: a stream and one key of its partition column.
pub type Bucket = (&'static str, String);

/// A tenant's sessions, and the index from bucket to the sessions holding it.
#[derive(Default)]
struct Sessions {
    /// By id, which grows with subscription: iteration is in subscription order.
    subscribers: BTreeMap<SessionId, Subscriber>,
    buckets: HashMap<Bucket, Vec<SessionId>>,
    /// Per entity, how many sessions take it through streams only: when all do, its
    /// whole-tenant message goes to no one, and no session is looked at for it.
    partial: HashMap<&'static str, usize>,
}

/// A committed change of an entity with streams, for [`Hub::publish_change`].
pub struct Routed<'a> {
    /// The committed state.
    pub effect: &'a Effect,
    /// What it did to each stream's buckets.
    pub routes: &'a [Route],
}

/// Per-tenant fan-out of committed changes. Share it as `Arc<Hub>`.
pub struct Hub {
    tenants: Mutex<HashMap<TenantId, Sessions>>,
    queue_depth: usize,
    queue_bytes: usize,
    next_id: AtomicU64,
    /// How many stream deliveries (a page and its checkpoint count once) were queued.
    stream_deliveries: AtomicU64,
}

/// One session's subscription; dropping it unsubscribes.
pub struct Subscription {
    id: SessionId,
    tenant: TenantId,
    queue: Arc<Queue>,
    hub: Arc<Hub>,
    resolve: Arc<Notify>,
}

impl Hub {
    /// A hub whose sessions may each have `queue_depth` undelivered messages, of at most
    /// [`DEFAULT_QUEUE_BYTES`] in all.
    pub fn new(queue_depth: usize) -> Arc<Hub> {
        Hub::bounded(queue_depth, DEFAULT_QUEUE_BYTES)
    }

    /// A hub whose sessions may each have `queue_depth` undelivered messages of at most
    /// `queue_bytes` in all (a single larger message is still delivered to an empty queue).
    /// A message shared by many sessions counts in each queue, as each may be the last to
    /// hold it.
    pub fn bounded(queue_depth: usize, queue_bytes: usize) -> Arc<Hub> {
        Arc::new(Hub {
            tenants: Mutex::new(HashMap::new()),
            queue_depth: queue_depth.max(1),
            queue_bytes,
            next_id: AtomicU64::new(1),
            stream_deliveries: AtomicU64::new(0),
        })
    }

    /// Subscribes a new session to `tenant`, for no particular subject.
    pub fn subscribe(self: &Arc<Hub>, tenant: &TenantId) -> Subscription {
        self.subscribe_for(tenant, "")
    }

    /// Subscribes a new session of `subject` to `tenant`:
    /// [`cut_subject`](Self::cut_subject) finds it.
    pub fn subscribe_for(self: &Arc<Hub>, tenant: &TenantId, subject: &str) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let queue = Queue::new();
        let resolve = Arc::new(Notify::new());
        self.lock()
            .entry(tenant.clone())
            .or_default()
            .subscribers
            .insert(
                id,
                Subscriber {
                    id,
                    subject: subject_key(subject),
                    queue: queue.clone(),
                    partial: Vec::new(),
                    buckets: Vec::new(),
                    resolve: resolve.clone(),
                },
            );
        Subscription {
            id,
            tenant: tenant.clone(),
            queue,
            hub: self.clone(),
            resolve,
        }
    }

    /// Delivers `message` to every session of `tenant` but `origin`, without waiting.
    /// Sessions whose queue is full, in messages or bytes, are cut off with [`Cut::Lagged`].
    pub fn publish(&self, tenant: &TenantId, origin: Option<SessionId>, message: Arc<str>) {
        let mut tenants = self.lock();
        let Some(sessions) = tenants.get_mut(tenant) else {
            return;
        };
        let mut lagged = Vec::new();
        for subscriber in sessions.subscribers.values() {
            if Some(subscriber.id) != origin && !self.push(tenant, subscriber, &message) {
                lagged.push(subscriber.id);
            }
        }
        sessions.remove(&lagged);
    }

    /// Delivers a committed change of an entity with streams: `message` (its whole-tenant
    /// form) to every session but `origin` that does not take the entity through streams,
    /// and to the sessions of each bucket the change entered, stayed in or left, a
    /// `stream_page` with its put, leave or tombstone and a `checkpoint` at its sequence
    /// number. Only the sessions of those buckets are looked at: at most two per stream.
    /// The origin gets leaves and tombstones, not the put of its own state.
    pub fn publish_change(
        &self,
        tenant: &TenantId,
        origin: Option<SessionId>,
        message: Arc<str>,
        change: Routed<'_>,
    ) {
        let mut tenants = self.lock();
        let Some(sessions) = tenants.get_mut(tenant) else {
            return;
        };
        let entity = change.effect.entity_type;
        let mut lagged = Vec::new();
        let partial = sessions.partial.get(entity).copied().unwrap_or(0);
        if partial < sessions.subscribers.len() {
            for subscriber in sessions.subscribers.values() {
                if Some(subscriber.id) != origin
                    && !subscriber.partial.contains(&entity)
                    && !self.push(tenant, subscriber, &message)
                {
                    lagged.push(subscriber.id);
                }
            }
        }
        // One checkpoint per session and change, after all of the change's pages: a move
        // between two buckets one session holds (leave, then put) must not be split by a
        // checkpoint, or a cut between the two would leave the cursor past a put never
        // applied.
        let mut reached: HashSet<SessionId> = HashSet::new();
        let mut checkpoint = None;
        for route in change.routes {
            let mut deliveries: Vec<(&str, BucketOp)> = Vec::with_capacity(2);
            if let Some(old) = route.left() {
                let op = if route.deleted {
                    BucketOp::Tombstone
                } else {
                    BucketOp::Leave
                };
                deliveries.push((old, op));
            }
            if let Some(new) = route.new.as_deref() {
                deliveries.push((new, BucketOp::Put));
            }
            for (key, op) in deliveries {
                let Some(holders) = sessions.buckets.get(&(route.stream, key.to_owned())) else {
                    continue;
                };
                let page = stream_page(change.effect, route.stream, key, op);
                for id in holders {
                    if op == BucketOp::Put && Some(*id) == origin {
                        continue;
                    }
                    let Some(subscriber) = sessions.subscribers.get(id) else {
                        continue;
                    };
                    self.stream_deliveries.fetch_add(1, Ordering::Relaxed);
                    if self.push(tenant, subscriber, &page) {
                        reached.insert(*id);
                    } else {
                        lagged.push(*id);
                    }
                }
                checkpoint.get_or_insert_with(|| live_checkpoint(change.effect.seq));
            }
        }
        if let Some(checkpoint) = checkpoint {
            for id in &reached {
                if let Some(subscriber) = sessions.subscribers.get(id)
                    && !lagged.contains(id)
                    && !self.push(tenant, subscriber, &checkpoint)
                {
                    lagged.push(*id);
                }
            }
        }
        sessions.remove(&lagged);
    }

    /// How many stream deliveries this hub queued: the sessions a change reached through
    /// its buckets, counted once per session and bucket.
    pub fn stream_deliveries(&self) -> u64 {
        self.stream_deliveries.load(Ordering::Relaxed)
    }

    /// Queues `message` for `subscriber`; false when it must be cut off (or ended).
    fn push(&self, tenant: &TenantId, subscriber: &Subscriber, message: &Arc<str>) -> bool {
        match subscriber
            .queue
            .push(message, self.queue_depth, self.queue_bytes)
        {
            Ok(()) => true,
            Err(Full::Full) => {
                subscriber.queue.end(Cut::Lagged);
                crate::metrics::lagged();
                tracing::warn!(%tenant, session = subscriber.id, "session fell behind; cutting it off");
                false
            }
            Err(Full::Ended) => false,
        }
    }

    /// Cuts off every session of `tenant`.
    pub fn cut_tenant(&self, tenant: &TenantId, cut: Cut) {
        if let Some(sessions) = self.lock().remove(tenant) {
            for subscriber in sessions.subscribers.values() {
                subscriber.queue.end(cut);
            }
        }
    }

    /// Cuts off every session of `tenant` whose subject has the [`subject_key`] `key`.
    pub fn cut_subject(&self, tenant: &TenantId, key: u64, cut: Cut) -> usize {
        let mut tenants = self.lock();
        let Some(sessions) = tenants.get_mut(tenant) else {
            return 0;
        };
        let matching: Vec<SessionId> = sessions
            .subscribers
            .values()
            .filter(|subscriber| subscriber.subject == key)
            .map(|subscriber| {
                subscriber.queue.end(cut);
                subscriber.id
            })
            .collect();
        sessions.remove(&matching);
        if sessions.subscribers.is_empty() {
            tenants.remove(tenant);
        }
        matching.len()
    }

    /// Tells the sessions of `tenant` whose subject is one of `subjects` that their
    /// memberships changed: each resolves the keys of its principal-keyed subscriptions
    /// again (see [`Subscription::resolve_signal`]). Returns how many were told.
    pub fn resolve_subjects(&self, tenant: &TenantId, subjects: &[String]) -> usize {
        let keys: Vec<u64> = subjects
            .iter()
            .map(|subject| subject_key(subject))
            .collect();
        let tenants = self.lock();
        let Some(sessions) = tenants.get(tenant) else {
            return 0;
        };
        let mut told = 0;
        for subscriber in sessions.subscribers.values() {
            if keys.contains(&subscriber.subject) {
                subscriber.resolve.notify_one();
                told += 1;
            }
        }
        told
    }

    /// Cuts off every session.
    pub fn cut_all(&self, cut: Cut) {
        for (_, sessions) in self.lock().drain() {
            for subscriber in sessions.subscribers.values() {
                subscriber.queue.end(cut);
            }
        }
    }

    /// How many sessions `tenant` has.
    pub fn sessions(&self, tenant: &TenantId) -> usize {
        self.lock()
            .get(tenant)
            .map_or(0, |sessions| sessions.subscribers.len())
    }

    /// Whether `tenant` has a session other than `origin`: whether a change from `origin`
    /// would reach anyone.
    pub fn has_other(&self, tenant: &TenantId, origin: Option<SessionId>) -> bool {
        self.lock()
            .get(tenant)
            .is_some_and(|sessions| sessions.subscribers.keys().any(|id| Some(*id) != origin))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Sessions>> {
        // Every update is a single call that leaves the map consistent.
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Subscription {
    /// This session's id, to name it as the origin of its own changes.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The next message; after a cut, the messages queued before it, then the cut.
    /// Cancel-safe: a message leaves the queue only when this returns it.
    pub async fn recv(&mut self) -> Result<Arc<str>, Cut> {
        std::future::poll_fn(|context| self.queue.poll_pop(context)).await
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<Arc<str>> {
        self.queue.try_pop()?.ok()
    }

    /// Bytes of the messages queued for this session.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// The signal [`Hub::resolve_subjects`] gives this session.
    pub fn resolve_signal(&self) -> ResolveSignal {
        ResolveSignal(self.resolve.clone())
    }

    /// A handle that holds and releases this session's buckets from another task (a
    /// subscribe's catch-up).
    pub fn holder(&self) -> Holder {
        Holder {
            hub: self.hub.clone(),
            tenant: self.tenant.clone(),
            id: self.id,
        }
    }

    /// See [`Holder::hold`].
    pub fn hold(&self, entity: &'static str, stream: &'static str, keys: &[String]) {
        self.holder().hold(entity, stream, keys);
    }

    /// See [`Holder::release`].
    pub fn release(&self, stream: &'static str, keys: &[String]) {
        self.holder().release(stream, keys);
    }
}

/// Tells a session that its subject's memberships changed; see
/// [`Subscription::resolve_signal`].
pub struct ResolveSignal(Arc<Notify>);

impl ResolveSignal {
    /// Resolves when [`Hub::resolve_subjects`] named the session's subject since the last
    /// time this resolved. Cancel-safe: a notice given meanwhile is kept.
    pub async fn wait(&self) {
        self.0.notified().await;
    }
}

/// Holds and releases one session's buckets; see [`Subscription::holder`].
#[derive(Clone)]
pub struct Holder {
    hub: Arc<Hub>,
    tenant: TenantId,
    id: SessionId,
}

impl Holder {
    /// Makes the session take `entity` through streams only (its whole-tenant messages
    /// skip it) without holding any bucket: for an entity the session may see only through
    /// streams.
    pub fn restrict(&self, entity: &'static str) {
        self.hold(entity, "", &[]);
    }

    /// Makes this session take `entity` through streams only (its whole-tenant messages
    /// skip it) and hold `keys` of `stream`: the stream's changes in those buckets reach it.
    pub fn hold(&self, entity: &'static str, stream: &'static str, keys: &[String]) {
        let mut tenants = self.hub.lock();
        let Some(sessions) = tenants.get_mut(&self.tenant) else {
            return;
        };
        let Some(subscriber) = sessions.subscribers.get_mut(&self.id) else {
            return;
        };
        if !subscriber.partial.contains(&entity) {
            subscriber.partial.push(entity);
            *sessions.partial.entry(entity).or_default() += 1;
        }
        for key in keys {
            let bucket = (stream, key.clone());
            if subscriber.buckets.contains(&bucket) {
                continue;
            }
            subscriber.buckets.push(bucket.clone());
            sessions.buckets.entry(bucket).or_default().push(self.id);
        }
    }

    /// Stops holding `keys` of `stream`.
    pub fn release(&self, stream: &'static str, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let mut tenants = self.hub.lock();
        let Some(sessions) = tenants.get_mut(&self.tenant) else {
            return;
        };
        let Some(subscriber) = sessions.subscribers.get_mut(&self.id) else {
            return;
        };
        let released: Vec<Bucket> = keys.iter().map(|key| (stream, key.clone())).collect();
        subscriber
            .buckets
            .retain(|bucket| !released.contains(bucket));
        sessions.unindex(self.id, &released);
    }
}

impl Sessions {
    /// Forgets the sessions `ids` and their buckets.
    fn remove(&mut self, ids: &[SessionId]) {
        for id in ids {
            if let Some(mut subscriber) = self.subscribers.remove(id) {
                for entity in &subscriber.partial {
                    if let Some(count) = self.partial.get_mut(entity) {
                        *count = count.saturating_sub(1);
                    }
                }
                let buckets = std::mem::take(&mut subscriber.buckets);
                self.unindex(*id, &buckets);
            }
        }
    }

    fn unindex(&mut self, id: SessionId, buckets: &[Bucket]) {
        for bucket in buckets {
            if let Some(holders) = self.buckets.get_mut(bucket) {
                holders.retain(|holder| *holder != id);
                if holders.is_empty() {
                    self.buckets.remove(bucket);
                }
            }
        }
    }
}

/// The `stream_page` of one change in one bucket, shared by every session holding it.
fn stream_page(effect: &Effect, stream: &str, key: &str, op: BucketOp) -> Arc<str> {
    let page = ServerMessage::StreamPage(StreamPage {
        subscription: None,
        changes: vec![StreamChange {
            op,
            stream: stream.to_owned(),
            bucket: key.to_owned(),
            entity_type: effect.entity_type.to_owned(),
            entity_id: effect.entity_id.clone(),
            seq: effect.seq,
            data: (op == BucketOp::Put).then(|| effect.data.clone()),
        }],
        has_more: false,
    });
    Arc::from(page.to_text())
}

/// The live `checkpoint` that follows a change's pages.
fn live_checkpoint(seq: u64) -> Arc<str> {
    let checkpoint = ServerMessage::Checkpoint(Checkpoint {
        cursor: seq,
        subscription: None,
        pages: None,
    });
    Arc::from(checkpoint.to_text())
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut tenants = self.hub.lock();
        if let Some(sessions) = tenants.get_mut(&self.tenant) {
            sessions.remove(&[self.id]);
            if sessions.subscribers.is_empty() {
                tenants.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tenants_are_isolated() {
        let hub = Hub::new(8);
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        let mut in_a = hub.subscribe(&a);
        let mut in_b = hub.subscribe(&b);
        hub.publish(&a, None, Arc::from("for a"));
        assert_eq!(&*in_a.recv().await.unwrap(), "for a");
        assert!(in_b.try_recv().is_none());
    }

    #[tokio::test]
    async fn dropping_a_subscription_unsubscribes() {
        let hub = Hub::new(8);
        let tenant = TenantId::new("t").unwrap();
        let first = hub.subscribe(&tenant);
        let _second = hub.subscribe(&tenant);
        assert_eq!(hub.sessions(&tenant), 2);
        drop(first);
        assert_eq!(hub.sessions(&tenant), 1);
    }

    #[tokio::test]
    async fn cuts_carry_their_reason() {
        let hub = Hub::new(8);
        let tenant = TenantId::new("t").unwrap();
        let mut session = hub.subscribe(&tenant);
        hub.cut_tenant(&tenant, Cut::TenantDeleted);
        assert_eq!(session.recv().await.unwrap_err(), Cut::TenantDeleted);
        let mut later = hub.subscribe(&tenant);
        hub.cut_all(Cut::Shutdown);
        assert_eq!(later.recv().await.unwrap_err(), Cut::Shutdown);
    }

    #[tokio::test]
    async fn a_slow_session_never_blocks_the_others() {
        let hub = Hub::new(1);
        let tenant = TenantId::new("t").unwrap();
        let mut slow = hub.subscribe(&tenant);
        let mut fast = hub.subscribe(&tenant);
        for n in 0..100 {
            hub.publish(&tenant, None, Arc::from(n.to_string()));
            assert_eq!(&*fast.recv().await.unwrap(), n.to_string());
        }
        assert_eq!(&*slow.recv().await.unwrap(), "0");
        assert_eq!(slow.recv().await.unwrap_err(), Cut::Lagged);
        assert_eq!(hub.sessions(&tenant), 1);
    }

    #[tokio::test]
    async fn a_queue_is_bounded_in_bytes_as_well_as_messages() {
        let hub = Hub::bounded(1000, 250);
        let tenant = TenantId::new("t").unwrap();
        let mut slow = hub.subscribe(&tenant);
        let big: Arc<str> = Arc::from("x".repeat(100));
        for _ in 0..3 {
            hub.publish(&tenant, None, big.clone());
        }
        assert_eq!(slow.queued_bytes(), 200, "the third would pass 250 bytes");
        assert_eq!(slow.recv().await.unwrap().len(), 100);
        assert_eq!(slow.queued_bytes(), 100);
        assert_eq!(slow.recv().await.unwrap().len(), 100);
        assert_eq!(slow.recv().await.unwrap_err(), Cut::Lagged);
        assert_eq!(hub.sessions(&tenant), 0);

        // One message larger than the bound still reaches an empty queue.
        let mut fresh = hub.subscribe(&tenant);
        hub.publish(&tenant, None, Arc::from("y".repeat(1000)));
        assert_eq!(fresh.recv().await.unwrap().len(), 1000);
    }
}
