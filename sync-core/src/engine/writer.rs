//! A tenant's writer task: group commit, replies after commit, then publication.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::relay::{Local, Pending};
use super::{Inner, SubmitError};
use crate::bus::NoticeKind;
use crate::change::Change;
use crate::entity::stream::Route;
use crate::hub::SessionId;
use crate::outcome::{BatchOutcome, Outcome, Rejection};
use crate::protocol;
use crate::store::Store;
use crate::tenant::TenantId;

/// One submitted batch waiting for its tenant's writer.
pub(crate) struct Job {
    origin: Option<SessionId>,
    changes: Vec<Change>,
    /// The rules' refusals: empty, or one per change.
    refusals: Vec<Option<Rejection>>,
    pub(super) reply: Option<oneshot::Sender<Result<BatchOutcome, SubmitError>>>,
    /// The queue room its changes take, given back when the writer takes the job.
    room: Option<OwnedSemaphorePermit>,
    /// Who makes the changes, when some are to rows of streams keyed by the principal:
    /// the writer refuses those outside the actor's keys.
    pub(super) actor: Option<Box<crate::entity::Actor>>,
}

impl Job {
    pub(super) fn new(
        origin: Option<SessionId>,
        changes: Vec<Change>,
        refusals: Vec<Option<Rejection>>,
    ) -> Job {
        Job {
            origin,
            changes,
            refusals,
            reply: None,
            room: None,
            actor: None,
        }
    }
}

/// A tenant writer's queue, bounded in changes (not batches): the room is a semaphore
/// with one permit per change that may wait.
#[derive(Clone)]
pub(super) struct Queue {
    sender: mpsc::UnboundedSender<Job>,
    room: Arc<Semaphore>,
    bound: usize,
}

/// Why [`Queue::push`] did not queue a job.
pub(super) enum Refused {
    /// No room for its changes.
    Full,
    /// The writer stopped; the job comes back unprocessed.
    Closed(Job),
}

impl Queue {
    /// A queue for up to `bound` waiting changes, and its receiving end for the writer.
    pub(super) fn new(bound: usize) -> (Queue, mpsc::UnboundedReceiver<Job>) {
        let bound = bound.clamp(1, Semaphore::MAX_PERMITS);
        let (sender, receiver) = mpsc::unbounded_channel();
        let queue = Queue {
            sender,
            room: Arc::new(Semaphore::new(bound)),
            bound,
        };
        (queue, receiver)
    }

    /// Queues `job` if its changes fit; a batch larger than the whole bound needs an
    /// empty queue.
    pub(super) fn push(&self, mut job: Job) -> Result<(), Refused> {
        let wanted = u32::try_from(job.changes.len().min(self.bound)).unwrap_or(u32::MAX);
        let Ok(room) = self.room.clone().try_acquire_many_owned(wanted) else {
            return Err(Refused::Full);
        };
        job.room = Some(room);
        self.sender.send(job).map_err(|returned| {
            let mut job = returned.0;
            job.room = None;
            Refused::Closed(job)
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub(super) fn same(&self, other: &Queue) -> bool {
        self.sender.same_channel(&other.sender)
    }
}

pub(super) async fn run<S: Store>(
    inner: Arc<Inner<S>>,
    tenant: TenantId,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    loop {
        let first = match tokio::time::timeout(inner.config.writer_idle, jobs.recv()).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(_idle) => {
                let mut writers = inner.writers.lock().unwrap_or_else(PoisonError::into_inner);
                // Stop only if nothing arrived meanwhile; senders are cloned under this lock,
                // so once we are out of the map no new job can reach this queue.
                if jobs.is_empty() {
                    writers.remove(&tenant);
                    return;
                }
                continue;
            }
        };
        let mut group = vec![first];
        let mut count = group[0].changes.len();
        while count < inner.config.max_group {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.changes.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        // Taken jobs no longer wait: their room is free for the next submissions.
        for job in &mut group {
            job.room = None;
        }
        commit(&inner, &tenant, group).await;
    }
}

/// A batch's routes, by the sequence number of their change.
fn by_seq(routes: Vec<Route>) -> HashMap<u64, Vec<Route>> {
    let mut by_seq: HashMap<u64, Vec<Route>> = HashMap::new();
    for route in routes {
        by_seq.entry(route.seq).or_default().push(route);
    }
    by_seq
}

async fn commit<S: Store>(inner: &Inner<S>, tenant: &TenantId, mut group: Vec<Job>) {
    // The group's changes move into one batch; each job keeps its count to take back its
    // outcomes.
    for job in &mut group {
        let Some(actor) = job.actor.take() else {
            continue;
        };
        match super::access::stream_refusals(&inner.store, &actor, tenant, &job.changes).await {
            Ok(outside) if !outside.is_empty() => {
                job.refusals.resize(job.changes.len(), None);
                for (refusal, outside) in job.refusals.iter_mut().zip(outside) {
                    if refusal.is_none() {
                        *refusal = outside;
                    }
                }
            }
            Ok(_) => {}
            Err(error) => {
                // Unchecked writes are not applied: the client retries them.
                tracing::warn!(%tenant, %error, "cannot check writes against the principal's keys");
                let refusal = Rejection::new(
                    crate::outcome::Reason::Overloaded,
                    "the server cannot check this write against your keys now; retry",
                );
                job.refusals = vec![Some(refusal); job.changes.len()];
            }
        }
    }
    let mut sizes = Vec::with_capacity(group.len());
    let mut changes: Vec<Change> = Vec::new();
    let mut refusals: Vec<Option<Rejection>> = Vec::new();
    let screened = group.iter().any(|job| !job.refusals.is_empty());
    for job in &mut group {
        sizes.push(job.changes.len());
        if screened {
            if job.refusals.is_empty() {
                refusals.resize(changes.len() + job.changes.len(), None);
            } else {
                refusals.append(&mut job.refusals);
            }
        }
        changes.append(&mut job.changes);
    }
    // With a bus, the tenant's delivery task learns that a commit is under way before it
    // can appear in the feed; dropping `pending` on failure tells it the commit is over.
    let pending = inner.relay.as_ref().map(|relay| relay.begin(tenant));
    let started = std::time::Instant::now();
    let result = inner
        .store
        .apply_screened(tenant, &changes, &refusals)
        .await;
    crate::metrics::group_commit(changes.len(), started.elapsed(), result.is_ok());
    let (mut outcomes, cursor, mut routes, principals) = match result {
        Ok(batch) => {
            inner
                .committed
                .hand_over(inner.store.registry(), tenant, &batch.outcomes);
            (
                batch.outcomes.into_iter(),
                batch.cursor,
                by_seq(batch.routes),
                batch.principals,
            )
        }
        Err(error) => {
            tracing::error!(%tenant, %error, changes = changes.len(), "group commit failed");
            let message = error.to_string();
            // An unavailable tenant database (out of file descriptors, closed meanwhile)
            // is a matter of capacity: the client retries later, as for a full queue.
            let unavailable = matches!(error, crate::Error::Unavailable(_));
            for job in group {
                if let Some(reply) = job.reply {
                    let _ = reply.send(Err(if unavailable {
                        SubmitError::Overloaded
                    } else {
                        SubmitError::Storage(message.clone())
                    }));
                }
            }
            return;
        }
    };
    // Nothing to encode for a tenant without sessions on this node. Without a bus, nor
    // for a job whose origin is the tenant's only session: the message would go to no one.
    // (A session that subscribes after this check reads the committed change itself.)
    let tracked = pending.as_ref().is_none_or(Pending::tracked);
    let mut range: Option<(u64, u64)> = None;
    let mut local = Vec::new();
    let mut sent = changes.iter();
    for (job, size) in group.into_iter().zip(sizes) {
        let encode = tracked && (pending.is_some() || inner.hub.has_other(tenant, job.origin));
        let mine: Vec<Outcome> = outcomes.by_ref().take(size).collect();
        let mut published = Vec::new();
        let mut job_routes = Vec::new();
        for (outcome, change) in mine.iter().zip(sent.by_ref().take(size)) {
            if let Outcome::Applied { effect, .. } = outcome {
                let seq = effect.seq;
                range =
                    Some(range.map_or((seq, seq), |(first, last)| (first.min(seq), last.max(seq))));
                let change_routes = routes.remove(&seq).unwrap_or_default();
                job_routes.extend(change_routes.iter().cloned());
                // A change that left a bucket may have to reach its own origin.
                if !encode && change_routes.is_empty() {
                    continue;
                }
                let message = protocol::data_update(tenant, change.operation, effect.clone());
                let routed = (!change_routes.is_empty()).then(|| (effect.clone(), change_routes));
                published.push((seq, Arc::<str>::from(message.to_text()), routed));
            }
        }
        if let Some(reply) = job.reply {
            let _ = reply.send(Ok(BatchOutcome {
                outcomes: mine,
                cursor,
                routes: job_routes,
                principals: principals.clone(),
            }));
        }
        if pending.is_some() {
            local.extend(published.into_iter().map(|(seq, message, routed)| Local {
                seq,
                origin: job.origin,
                message,
                routed,
            }));
        } else {
            for (_, message, routed) in published {
                super::relay::deliver_local(&inner.hub, tenant, job.origin, message, routed);
            }
        }
    }
    if let Some(pending) = pending {
        pending.finish(local);
        if let (Some((first, last)), Some(relay)) = (range, &inner.relay) {
            relay.announce(tenant, NoticeKind::Committed { first, last });
        }
    }
    if !principals.is_empty() {
        // Here they resolve their keys again; on other nodes they reconnect and resume.
        inner.hub.resolve_subjects(tenant, &principals);
        if let Some(relay) = &inner.relay {
            for subject in &principals {
                relay.announce(
                    tenant,
                    NoticeKind::AccessChanged {
                        subject: crate::hub::subject_key(subject),
                    },
                );
            }
        }
    }
}
