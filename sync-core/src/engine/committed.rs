//! The after-commit rules' queue: the writer hands each applied state of an entity with
//! rules to one task, which calls the rules in commit order; the writer never waits for it.

use std::sync::OnceLock;

use tokio::sync::mpsc;

use crate::entity::Registry;
use crate::outcome::{Effect, Outcome};
use crate::tenant::TenantId;

/// The queue, bounded in committed states; its task starts with the first state it needs.
pub(super) struct Dispatch {
    bound: usize,
    sender: OnceLock<mpsc::Sender<(TenantId, Effect)>>,
}

impl Dispatch {
    pub(super) fn new(bound: usize) -> Dispatch {
        Dispatch {
            bound: bound.max(1),
            sender: OnceLock::new(),
        }
    }

    /// Queues the applied states of `outcomes` whose entity has rules. Called by a writer,
    /// inside the runtime; a full queue drops the state, logged and counted.
    pub(super) fn hand_over(&self, registry: &Registry, tenant: &TenantId, outcomes: &[Outcome]) {
        if !registry.has_rules() {
            return;
        }
        for outcome in outcomes {
            let Outcome::Applied { effect, .. } = outcome else {
                continue;
            };
            if !registry.has_entity_rules(effect.entity_type) {
                continue;
            }
            let sender = self
                .sender
                .get_or_init(|| start(registry.clone(), self.bound));
            if sender.try_send((tenant.clone(), effect.clone())).is_err() {
                crate::metrics::after_commit_dropped();
                tracing::warn!(%tenant, entity_id = %effect.entity_id, seq = effect.seq, "after-commit queue full: the rules do not hear of this commit");
            }
        }
    }
}

fn start(registry: Registry, bound: usize) -> mpsc::Sender<(TenantId, Effect)> {
    let (sender, mut receiver) = mpsc::channel::<(TenantId, Effect)>(bound);
    tokio::spawn(async move {
        while let Some((tenant, effect)) = receiver.recv().await {
            // A panicking rule must not end the task that serves every other commit.
            let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                registry.committed(&tenant, &effect);
            }));
            if called.is_err() {
                tracing::error!(%tenant, entity_id = %effect.entity_id, "an after-commit rule panicked");
            }
        }
    });
    sender
}
