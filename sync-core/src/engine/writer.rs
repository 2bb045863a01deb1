//! A tenant's writer task: group commit, replies after commit, then publication.

use std::sync::{Arc, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::relay::{Local, Pending};
use super::{Inner, SubmitError};
use crate::bus::NoticeKind;
use crate::change::Change;
use crate::hub::SessionId;
use crate::outcome::{BatchOutcome, Outcome};
use crate::protocol::ServerMessage;
use crate::store::Store;
use crate::tenant::TenantId;

/// One submitted batch waiting for its tenant's writer.
pub(crate) struct Job {
    origin: Option<SessionId>,
    changes: Vec<Change>,
    pub(super) reply: Option<oneshot::Sender<Result<BatchOutcome, SubmitError>>>,
}

impl Job {
    pub(super) fn new(origin: Option<SessionId>, changes: Vec<Change>) -> Job {
        Job {
            origin,
            changes,
            reply: None,
        }
    }
}

pub(super) async fn run<S: Store>(
    inner: Arc<Inner<S>>,
    tenant: TenantId,
    mut jobs: mpsc::Receiver<Job>,
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
        commit(&inner, &tenant, group).await;
    }
}

async fn commit<S: Store>(inner: &Inner<S>, tenant: &TenantId, mut group: Vec<Job>) {
    // The group's changes move into one batch; each job keeps its count to take back its
    // outcomes.
    let mut sizes = Vec::with_capacity(group.len());
    let mut changes: Vec<Change> = Vec::new();
    for job in &mut group {
        sizes.push(job.changes.len());
        changes.append(&mut job.changes);
    }
    // With a bus, the tenant's delivery task learns that a commit is under way before it
    // can appear in the feed; dropping `pending` on failure tells it the commit is over.
    let pending = inner.relay.as_ref().map(|relay| relay.begin(tenant));
    let started = std::time::Instant::now();
    let result = inner.store.apply(tenant, &changes).await;
    crate::metrics::group_commit(changes.len(), started.elapsed(), result.is_ok());
    let (mut outcomes, cursor) = match result {
        Ok(batch) => (batch.outcomes.into_iter(), batch.cursor),
        Err(error) => {
            tracing::error!(%tenant, %error, changes = changes.len(), "group commit failed");
            let message = error.to_string();
            for job in group {
                if let Some(reply) = job.reply {
                    let _ = reply.send(Err(SubmitError::Storage(message.clone())));
                }
            }
            return;
        }
    };
    // Nothing to encode for a tenant without sessions on this node.
    let encode = pending.as_ref().is_none_or(Pending::tracked);
    let mut range: Option<(u64, u64)> = None;
    let mut local = Vec::new();
    let mut sent = changes.iter();
    for (job, size) in group.into_iter().zip(sizes) {
        let mine: Vec<Outcome> = outcomes.by_ref().take(size).collect();
        let mut published = Vec::new();
        for (outcome, change) in mine.iter().zip(sent.by_ref().take(size)) {
            if let Outcome::Applied { effect, .. } = outcome {
                let seq = effect.seq;
                range =
                    Some(range.map_or((seq, seq), |(first, last)| (first.min(seq), last.max(seq))));
                if !encode {
                    continue;
                }
                let operation = if effect.deleted {
                    "delete"
                } else {
                    change.operation.as_str()
                };
                let message = ServerMessage::DataUpdate {
                    tenant_id: tenant.to_string(),
                    operation,
                    effect: effect.clone(),
                };
                published.push((seq, Arc::<str>::from(message.to_text())));
            }
        }
        if let Some(reply) = job.reply {
            let _ = reply.send(Ok(BatchOutcome {
                outcomes: mine,
                cursor,
            }));
        }
        if pending.is_some() {
            local.extend(published.into_iter().map(|(seq, message)| Local {
                seq,
                origin: job.origin,
                message,
            }));
        } else {
            for (_, message) in published {
                inner.hub.publish(tenant, job.origin, message);
            }
        }
    }
    if let Some(pending) = pending {
        pending.finish(local);
        if let (Some((first, last)), Some(relay)) = (range, &inner.relay) {
            relay.announce(tenant, NoticeKind::Committed { first, last });
        }
    }
}
