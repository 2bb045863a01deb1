//! Delivery across nodes: every change committed by any node reaches each of this node's
//! sessions of its tenant exactly once, in sequence order, skipping only its origin.
//!
//! Per tenant with local sessions, a delivery task holds the last sequence number it handed
//! to the hub (`delivered`). Its inputs are this node's commits (from the writer, already
//! encoded, with their origin sessions), other nodes' notices, bus resyncs, and a periodic
//! check of the store's cursor. A local commit that starts right after `delivered` goes to
//! the hub at once; anything else (another node's notice, a gap, a resync, a cursor ahead)
//! is read from the change feed, in pages, and published in order. Because the store makes
//! sequence numbers visible in commit order, a gap seen at seq N can always be filled at
//! once from the feed. Anything at or below `delivered` is dropped, so nothing arrives
//! twice.
//!
//! The origin of a change is known only to the node that committed it. So that a feed read
//! never sends a session its own change, the writer counts its commits (`started` before the
//! store's apply, `finished` after handing over the result), and a feed page is published
//! only once every local commit that began before the page was read has handed over its
//! messages: those seqs then go out with their origin.
//!
//! Publishing to the bus never blocks the writer: notices go into a bounded queue to a
//! publisher task, which merges them per tenant; when the queue is full a notice is dropped
//! and the other nodes catch up from the feed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;

use super::Inner;
use crate::bus::{Bus, Event, NodeId, Notice, NoticeKind};
use crate::change::Operation;
use crate::entity::stream::Route;
use crate::hub::{Cut, SessionId};
use crate::outcome::Effect;
use crate::protocol;
use crate::store::Store;
use crate::tenant::TenantId;

/// Changes one feed read asks for.
const PAGE: usize = 1000;
/// Local commits a delivery task may hold before it falls back to the feed.
const LOCAL_QUEUE: usize = 1024;
/// Notices one bus send carries at most.
const MAX_SEND: usize = 1024;
/// How long one bus send may take before its notices are dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The cross-node machinery of an engine with a bus.
pub(crate) struct Relay {
    pub(super) node: NodeId,
    bus: Arc<dyn Bus>,
    outbox: mpsc::Sender<Notice>,
    trackers: Mutex<HashMap<TenantId, Arc<Tracker>>>,
    check: Duration,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// What a tenant's delivery task has been told, shared with the writer and the listener.
struct Tracker {
    state: Mutex<State>,
    wake: Notify,
    ready: watch::Sender<bool>,
    /// The delivery task, to replace it should it have ended unexpectedly.
    task: OnceLock<AbortHandle>,
}

#[derive(Default)]
struct State {
    /// Local commits not yet taken by the delivery task, each its applied changes.
    local: VecDeque<Vec<Local>>,
    /// Local commits begun and finished (handed over or failed).
    started: u64,
    finished: u64,
    /// The highest seq other nodes announced.
    remote: u64,
    /// Catch up from the feed whatever the rest says.
    resync: bool,
    /// When the oldest notice not yet delivered arrived, for the bus lag metric.
    noticed: Option<std::time::Instant>,
}

/// One locally committed change, encoded.
pub(crate) struct Local {
    pub(crate) seq: u64,
    pub(crate) origin: Option<SessionId>,
    pub(crate) message: Arc<str>,
    /// The committed state and its stream routes, for an entity with streams.
    pub(crate) routed: Option<(Effect, Vec<Route>)>,
}

/// Hands one locally committed change to the hub: by bucket when its entity has streams.
pub(crate) fn deliver_local(
    hub: &crate::hub::Hub,
    tenant: &TenantId,
    origin: Option<SessionId>,
    message: Arc<str>,
    routed: Option<(Effect, Vec<Route>)>,
) {
    match routed {
        Some((effect, routes)) => hub.publish_change(
            tenant,
            origin,
            message,
            crate::hub::Routed {
                effect: &effect,
                routes: &routes,
            },
        ),
        None => hub.publish(tenant, origin, message),
    }
}

/// A local commit under way. Created before the store's apply; finishing or dropping it
/// tells the tenant's delivery task, which may wait for it.
pub(crate) struct Pending {
    tracker: Option<Arc<Tracker>>,
}

impl Pending {
    /// Whether the tenant has local sessions, i.e. whether to encode messages at all.
    pub(crate) fn tracked(&self) -> bool {
        self.tracker.is_some()
    }

    /// Hands the commit's applied changes to the delivery task.
    pub(crate) fn finish(mut self, changes: Vec<Local>) {
        if let Some(tracker) = self.tracker.take() {
            {
                let mut state = tracker.lock();
                if !changes.is_empty() {
                    if state.local.len() < LOCAL_QUEUE {
                        state.local.push_back(changes);
                    } else {
                        // Too far behind: the feed has these changes, without their origin.
                        state.resync = true;
                    }
                }
                state.finished += 1;
            }
            tracker.wake.notify_one();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            tracker.lock().finished += 1;
            tracker.wake.notify_one();
        }
    }
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remote(&self, last: u64) {
        {
            let mut state = self.lock();
            state.remote = state.remote.max(last);
            state.noticed.get_or_insert_with(std::time::Instant::now);
        }
        self.wake.notify_one();
    }

    fn resync(&self) {
        self.lock().resync = true;
        self.wake.notify_one();
    }
}

impl Relay {
    /// The relay of a new engine; its tasks start with [`start`].
    pub(super) fn new(bus: Arc<dyn Bus>, queue: usize, check: Duration) -> (Relay, Outbox) {
        let (outbox, queue) = mpsc::channel(queue.max(1));
        let relay = Relay {
            node: NodeId::random(),
            bus,
            outbox,
            trackers: Mutex::new(HashMap::new()),
            check,
            tasks: Mutex::new(Vec::new()),
        };
        (relay, Outbox(queue))
    }

    /// Counts a local commit of `tenant` as begun.
    pub(crate) fn begin(&self, tenant: &TenantId) -> Pending {
        let tracker = self.trackers().get(tenant).cloned();
        if let Some(tracker) = &tracker {
            tracker.lock().started += 1;
        }
        Pending { tracker }
    }

    /// Queues `kind` for the other nodes, without waiting; dropped if the queue is full.
    pub(crate) fn announce(&self, tenant: &TenantId, kind: NoticeKind) {
        let notice = Notice {
            node: self.node,
            tenant: tenant.clone(),
            kind,
        };
        if let Err(mpsc::error::TrySendError::Full(notice)) = self.outbox.try_send(notice) {
            match notice.kind {
                NoticeKind::TenantDeleted => tracing::error!(
                    tenant = %notice.tenant,
                    "the bus queue is full; the other nodes keep this deleted tenant's sessions"
                ),
                NoticeKind::AccessChanged { .. } => tracing::error!(
                    tenant = %notice.tenant,
                    "the bus queue is full; the other nodes keep the sessions of a member whose access changed"
                ),
                NoticeKind::Committed { .. } => tracing::debug!(
                    tenant = %notice.tenant,
                    "the bus queue is full; the other nodes will catch up from the feed"
                ),
            }
        }
    }

    /// How many tenants this node delivers to.
    pub(crate) fn tracked(&self) -> usize {
        self.trackers().len()
    }

    fn trackers(&self) -> MutexGuard<'_, HashMap<TenantId, Arc<Tracker>>> {
        self.trackers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn resync_all(&self) {
        let trackers: Vec<Arc<Tracker>> = self.trackers().values().cloned().collect();
        for tracker in trackers {
            tracker.resync();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// The receiving end of the bus queue, until [`start`] gives it to the publisher.
pub(super) struct Outbox(mpsc::Receiver<Notice>);

/// Starts the publisher and the listener of `inner`'s relay.
pub(super) fn start<S: Store>(inner: &Arc<Inner<S>>, outbox: Outbox) {
    let Some(relay) = &inner.relay else { return };
    let publisher = tokio::spawn(publish(relay.bus.clone(), outbox.0));
    let listener = tokio::spawn(listen(Arc::downgrade(inner), relay.bus.clone(), relay.node));
    let mut tasks = relay.tasks.lock().unwrap_or_else(PoisonError::into_inner);
    tasks.push(publisher.abort_handle());
    tasks.push(listener.abort_handle());
}

/// Makes sure `tenant` is delivered to on this node; returns once its delivery task knows
/// where it starts, so a session that catches up from its cursor afterwards misses nothing.
pub(super) async fn track<S: Store>(inner: &Arc<Inner<S>>, tenant: &TenantId) {
    let Some(relay) = &inner.relay else { return };
    let tracker = {
        let mut trackers = relay.trackers();
        let running = trackers
            .get(tenant)
            .filter(|tracker| tracker.task.get().is_some_and(|task| !task.is_finished()));
        match running {
            Some(tracker) => tracker.clone(),
            None => {
                let tracker = Arc::new(Tracker {
                    state: Mutex::new(State::default()),
                    wake: Notify::new(),
                    ready: watch::channel(false).0,
                    task: OnceLock::new(),
                });
                trackers.insert(tenant.clone(), tracker.clone());
                let task = tokio::spawn(deliver(
                    Arc::downgrade(inner),
                    tenant.clone(),
                    tracker.clone(),
                    relay.check,
                ));
                let _ = tracker.task.set(task.abort_handle());
                tracker
            }
        }
    };
    let mut ready = tracker.ready.subscribe();
    // An error means the task ended, which it does only once the tenant has no session.
    let _ = ready.wait_for(|ready| *ready).await;
}

async fn publish(bus: Arc<dyn Bus>, mut queue: mpsc::Receiver<Notice>) {
    while let Some(first) = queue.recv().await {
        // Merge whatever waits: one range per tenant, deletions and access changes kept as
        // they are.
        let mut committed: BTreeMap<TenantId, Notice> = BTreeMap::new();
        let mut deleted = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(notice) = next.take() {
            taken += 1;
            match notice.kind {
                NoticeKind::TenantDeleted | NoticeKind::AccessChanged { .. } => {
                    deleted.push(notice);
                }
                NoticeKind::Committed { first, last } => {
                    let merged = committed
                        .entry(notice.tenant.clone())
                        .or_insert(notice.clone());
                    if let NoticeKind::Committed {
                        first: low,
                        last: high,
                    } = &mut merged.kind
                    {
                        *low = (*low).min(first);
                        *high = (*high).max(last);
                    }
                }
            }
            if taken < MAX_SEND {
                next = queue.try_recv().ok();
            }
        }
        let mut notices = deleted;
        let deletions = notices.len();
        notices.extend(committed.into_values());
        // Deletions and access changes have no catch-up, so they are retried a few times.
        for attempt in 0..3 {
            match tokio::time::timeout(SEND_TIMEOUT, bus.send(&notices)).await {
                Ok(Ok(())) => break,
                Ok(Err(error)) => {
                    tracing::warn!(%error, notices = notices.len(), "the bus refused notices; the other nodes will catch up from the feed");
                }
                Err(_) => {
                    tracing::warn!(
                        notices = notices.len(),
                        "the bus did not take notices in time; the other nodes will catch up from the feed"
                    );
                }
            }
            if deletions == 0 || attempt == 2 {
                if deletions > 0 {
                    tracing::error!(
                        deletions,
                        "tenant deletions did not reach the bus; other nodes keep those sessions"
                    );
                }
                break;
            }
            notices.truncate(deletions);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn listen<S: Store>(inner: Weak<Inner<S>>, bus: Arc<dyn Bus>, node: NodeId) {
    let mut pause = Duration::from_millis(100);
    loop {
        match bus.listen().await {
            Ok(mut events) => {
                pause = Duration::from_millis(100);
                // Whatever happened before we listened is read from the feed.
                match inner.upgrade() {
                    Some(inner) => resync(&inner),
                    None => return,
                }
                while let Some(event) = events.next().await {
                    let Some(inner) = inner.upgrade() else { return };
                    let Some(relay) = &inner.relay else { return };
                    match event {
                        Event::Notice(notice) if notice.node == node => {}
                        Event::Notice(notice) => match notice.kind {
                            NoticeKind::Committed { last, .. } => {
                                crate::metrics::bus_notice("committed");
                                let tracker = relay.trackers().get(&notice.tenant).cloned();
                                if let Some(tracker) = tracker {
                                    tracker.remote(last);
                                }
                            }
                            NoticeKind::TenantDeleted => {
                                crate::metrics::bus_notice("tenant_deleted");
                                tracing::info!(tenant = %notice.tenant, from = %notice.node, "tenant deleted on another node; closing its sessions");
                                inner.hub.cut_tenant(&notice.tenant, Cut::TenantDeleted);
                            }
                            NoticeKind::AccessChanged { subject } => {
                                crate::metrics::bus_notice("access_changed");
                                let closed = inner.hub.cut_subject(
                                    &notice.tenant,
                                    subject,
                                    Cut::AccessChanged,
                                );
                                tracing::info!(tenant = %notice.tenant, from = %notice.node, closed, "a member's access changed on another node; closing their sessions");
                            }
                        },
                        Event::Resync => {
                            crate::metrics::bus_notice("resync");
                            tracing::info!(
                                "the bus may have lost notices; catching up from the feed"
                            );
                            relay.resync_all();
                        }
                    }
                }
                tracing::warn!("the bus stopped receiving; listening again");
            }
            Err(error) => tracing::warn!(%error, "cannot listen to the bus; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
        if inner.strong_count() == 0 {
            return;
        }
    }
}

fn resync<S: Store>(inner: &Inner<S>) {
    if let Some(relay) = &inner.relay {
        relay.resync_all();
    }
}

/// One tenant's delivery state, owned by its task.
struct Delivery {
    tenant: TenantId,
    tracker: Arc<Tracker>,
    delivered: u64,
    /// Local changes taken from the tracker and not yet published, by seq.
    pending: BTreeMap<u64, Local>,
}

async fn deliver<S: Store>(
    inner: Weak<Inner<S>>,
    tenant: TenantId,
    tracker: Arc<Tracker>,
    check: Duration,
) {
    let mut delivery = Delivery {
        tenant,
        tracker,
        delivered: 0,
        pending: BTreeMap::new(),
    };
    // Where delivery starts: sessions subscribed before this and catch up themselves.
    let mut pause = Duration::from_millis(50);
    loop {
        let Some(inner) = inner.upgrade() else { return };
        match inner.store.cursor(&delivery.tenant).await {
            Ok(cursor) => {
                delivery.delivered = cursor;
                break;
            }
            Err(error) => {
                tracing::warn!(tenant = %delivery.tenant, %error, "cannot read the tenant's cursor; retrying");
                if stop(&inner, &delivery) {
                    return;
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(check);
    }
    delivery.tracker.ready.send_replace(true);

    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + check, check);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ticked = tokio::select! {
            () = delivery.tracker.wake.notified() => false,
            _ = ticks.tick() => true,
        };
        let Some(inner) = inner.upgrade() else { return };
        if inner.hub.sessions(&delivery.tenant) == 0 && stop(&inner, &delivery) {
            return;
        }
        let mut behind = false;
        if ticked {
            match inner.store.cursor(&delivery.tenant).await {
                Ok(cursor) => behind = cursor > delivery.delivered,
                Err(error) => {
                    tracing::warn!(tenant = %delivery.tenant, %error, "cannot read the tenant's cursor")
                }
            }
        }
        delivery.run(&inner, behind).await;
    }
}

/// Stops tracking if the tenant has no session left; sessions subscribe to the hub before
/// they look up the tracker, under the same lock, so none is left without delivery.
fn stop<S: Store>(inner: &Inner<S>, delivery: &Delivery) -> bool {
    let Some(relay) = &inner.relay else {
        return true;
    };
    let mut trackers = relay.trackers();
    if inner.hub.sessions(&delivery.tenant) > 0 {
        return false;
    }
    if trackers
        .get(&delivery.tenant)
        .is_some_and(|tracker| Arc::ptr_eq(tracker, &delivery.tracker))
    {
        trackers.remove(&delivery.tenant);
    }
    true
}

impl Delivery {
    /// Takes what the tracker was told; whether the feed must be read.
    fn take(&mut self) -> bool {
        let mut state = self.tracker.lock();
        for commit in state.local.drain(..) {
            for change in commit {
                self.pending.insert(change.seq, change);
            }
        }
        // One feed read answers every notice so far: afterwards `delivered` is at least
        // everything visible then (a purged or reset feed may even end below a notice).
        let must_read = state.resync || state.remote > self.delivered;
        state.resync = false;
        state.remote = 0;
        must_read
    }

    /// Publishes everything it can, reading the feed where it must.
    async fn run<S: Store>(&mut self, inner: &Inner<S>, mut must_read: bool) {
        // The same gap after two feed reads: the feed does not hold those seqs.
        let mut last_gap = None;
        let mut gap_reads = 0;
        loop {
            must_read |= self.take();
            self.advance(inner);
            let gap = self
                .pending
                .first_key_value()
                .map(|(seq, _)| *seq)
                .filter(|seq| *seq > self.delivered + 1);
            if !must_read {
                let Some(next) = gap else { return };
                if last_gap == Some((self.delivered, next)) {
                    gap_reads += 1;
                } else {
                    (last_gap, gap_reads) = (Some((self.delivered, next)), 1);
                }
                if gap_reads > 2 {
                    // The feed does not hold the seqs before this node's next change (a
                    // tenant deleted and recreated under us): go on from there.
                    tracing::warn!(tenant = %self.tenant, delivered = self.delivered, next, "the feed has no changes before this node's next one; skipping ahead");
                    self.delivered = next - 1;
                    continue;
                }
            }
            must_read = false;
            let noticed = self.tracker.lock().noticed.take();
            if let Err(error) = self.read_feed(inner).await {
                // The periodic check tries again.
                tracing::warn!(tenant = %self.tenant, %error, "cannot read the change feed");
                return;
            }
            if let Some(noticed) = noticed {
                crate::metrics::bus_delivery(noticed.elapsed());
            }
        }
    }

    /// Publishes the local changes that follow `delivered`, dropping those at or below it.
    fn advance<S: Store>(&mut self, inner: &Inner<S>) {
        while let Some(entry) = self.pending.first_entry() {
            let seq = *entry.key();
            if seq <= self.delivered {
                entry.remove();
            } else if seq == self.delivered + 1 {
                let local = entry.remove();
                deliver_local(
                    &inner.hub,
                    &self.tenant,
                    local.origin,
                    local.message,
                    local.routed,
                );
                self.delivered = seq;
            } else {
                return;
            }
        }
    }

    /// Reads and publishes the feed after `delivered`, to its end.
    async fn read_feed<S: Store>(&mut self, inner: &Inner<S>) -> crate::Result<()> {
        loop {
            let page = inner
                .store
                .changes_since(&self.tenant, self.delivered, PAGE)
                .await?;
            if page.reset {
                tracing::warn!(tenant = %self.tenant, delivered = self.delivered, "the feed was purged past this node's cursor; cutting the sessions so they reload");
                inner.hub.cut_tenant(&self.tenant, Cut::Lagged);
                self.pending.clear();
                self.delivered = inner.store.cursor(&self.tenant).await?;
                return Ok(());
            }
            self.await_local().await;
            let moves = remote_moves(inner, &self.tenant, &self.pending, &page.changes).await?;
            for effect in page.changes {
                if effect.seq <= self.delivered {
                    continue;
                }
                let seq = effect.seq;
                match self.pending.remove(&seq) {
                    Some(local) => deliver_local(
                        &inner.hub,
                        &self.tenant,
                        local.origin,
                        local.message,
                        local.routed,
                    ),
                    None => {
                        let routes = remote_routes(inner.store.registry(), &effect, &moves);
                        let message = encode(&self.tenant, effect.clone());
                        if routes.is_empty() {
                            inner.hub.publish(&self.tenant, None, message);
                        } else {
                            inner.hub.publish_change(
                                &self.tenant,
                                None,
                                message,
                                crate::hub::Routed {
                                    effect: &effect,
                                    routes: &routes,
                                },
                            );
                        }
                    }
                }
                self.delivered = seq;
            }
            if !page.has_more {
                return Ok(());
            }
        }
    }

    /// Waits until every local commit begun so far has handed over its changes, so the
    /// seqs of the page just read that are this node's go out with their origin.
    async fn await_local(&mut self) {
        let target = self.tracker.lock().started;
        loop {
            let notified = self.tracker.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.tracker.lock();
                for commit in state.local.drain(..) {
                    for change in commit {
                        self.pending.insert(change.seq, change);
                    }
                }
                // A wake-up taken here for a notice is not lost: `run` looks at the
                // state again after every feed read.
                if state.finished >= target {
                    return;
                }
            }
            notified.await;
        }
    }
}

/// The moves feed of a page's changes that another node committed, for entities with
/// streams: empty (and no read) when there are none.
async fn remote_moves<S: Store>(
    inner: &Inner<S>,
    tenant: &TenantId,
    pending: &BTreeMap<u64, Local>,
    changes: &[Effect],
) -> crate::Result<Vec<crate::store::MoveRecord>> {
    let registry = inner.store.registry();
    let remote: Vec<u64> = changes
        .iter()
        .filter(|effect| !pending.contains_key(&effect.seq))
        .filter(|effect| {
            registry
                .get(effect.entity_type)
                .is_some_and(|handler| !handler.streams().is_empty())
        })
        .map(|effect| effect.seq)
        .collect();
    match (remote.first(), remote.last()) {
        (Some(first), Some(last)) => {
            inner
                .store
                .moves_between(tenant, first.saturating_sub(1), *last)
                .await
        }
        _ => Ok(Vec::new()),
    }
}

/// The stream routes of a change another node committed: its bucket now from its state,
/// the bucket it left from the moves feed (a row that left none stayed where it is).
fn remote_routes(
    registry: &crate::entity::Registry,
    effect: &Effect,
    moves: &[crate::store::MoveRecord],
) -> Vec<Route> {
    let Some(handler) = registry.get(effect.entity_type) else {
        return Vec::new();
    };
    handler
        .streams()
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let new = (!effect.deleted)
                .then(|| handler.bucket(index, &effect.data))
                .flatten();
            let left = moves
                .iter()
                .find(|record| {
                    record.seq == effect.seq
                        && record.stream == spec.name
                        && record.entity_id == effect.entity_id
                })
                .map(|record| record.old_key.clone());
            Route {
                seq: effect.seq,
                stream: spec.name,
                entity_id: effect.entity_id.clone(),
                old: left.or_else(|| new.clone()),
                new,
                deleted: effect.deleted,
            }
        })
        .collect()
}

/// A change read from the feed as the `data_update` sessions get.
fn encode(tenant: &TenantId, effect: Effect) -> Arc<str> {
    Arc::from(protocol::data_update(tenant, Operation::Update, effect).to_text())
}
