//! The app's own rules for writes: per entity, [`Rules`] validates and authorizes every
//! change and hears of every commit; for the whole registry, an [`Authorizer`] decides who
//! may write at all (e.g. read-only members).
//!
//! Rules run on every write path, because every path goes through [`Engine::submit_as`]
//! (sessions with their [`Actor`]) or [`Engine::submit`] (server code, as
//! [`Actor::server`]): sync messages, batches, and the typed server API. They run before the
//! tenant's writer, on the submitter's task; a refusal becomes the change's NACK —
//! `forbidden` for an authorizer or [`Rules::authorize`], `validation_error` for
//! [`Rules::validate`], neither retryable — except for a retry of a change that was already
//! processed, which keeps its recorded outcome (the store decides that, so a refusal never
//! contradicts an ACK already sent). [`Rules::after_commit`] runs after the commit, on a
//! task of its own, never holding up the writer.
//!
//! [`Engine::submit_as`]: crate::engine::Engine::submit_as
//! [`Engine::submit`]: crate::engine::Engine::submit
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_core::entity::{Actor, Proposed, Rules};
//! use sync_core::{Registry, Syncable, TenantId};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
//! pub struct Budget {
//!     #[sync(id)]
//!     pub id: String,
//!     pub amount: i64,
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! struct BudgetRules;
//!
//! impl Rules<Budget> for BudgetRules {
//!     fn validate(&self, change: &Proposed<'_, Budget>) -> Result<(), String> {
//!         match change {
//!             Proposed::Upsert(budget) if budget.amount < 0 => {
//!                 Err("amount must not be negative".to_owned())
//!             }
//!             _ => Ok(()),
//!         }
//!     }
//!
//!     fn authorize(&self, actor: &Actor, _: &TenantId, change: &Proposed<'_, Budget>) -> Result<(), String> {
//!         match change {
//!             Proposed::Delete { .. } if actor.role() != Some("owner") => {
//!                 Err("only an owner deletes budgets".to_owned())
//!             }
//!             _ => Ok(()),
//!         }
//!     }
//! }
//!
//! let registry = Registry::builder()
//!     .entity::<Budget>()
//!     .build()
//!     .unwrap()
//!     .with_rules::<Budget>(BudgetRules)
//!     .unwrap()
//!     // Viewers write nothing, whatever the entity.
//!     .with_authorizer(|actor: &Actor, _: &TenantId, _: &sync_core::Change| {
//!         if actor.role() == Some("viewer") { Err("a viewer cannot write".to_owned()) } else { Ok(()) }
//!     });
//! assert!(registry.has_rules());
//! ```

use std::marker::PhantomData;

use super::Syncable;
use crate::change::{Change, Operation, TypedChange};
use crate::outcome::{Effect, Reason, Rejection};
use crate::tenant::TenantId;

/// Who makes a change: an authenticated subject, with the role the app gave it in the
/// tenant (if any), or the server's own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    subject: String,
    role: Option<String>,
    server: bool,
}

impl Actor {
    /// The subject `subject` (e.g. a user id), with no role.
    pub fn user(subject: impl Into<String>) -> Actor {
        Actor {
            subject: subject.into(),
            role: None,
            server: false,
        }
    }

    /// The server's own code: REST handlers and jobs writing through
    /// [`Engine::put`](crate::engine::Engine::put) and the like.
    pub fn server() -> Actor {
        Actor {
            subject: "server".to_owned(),
            role: None,
            server: true,
        }
    }

    /// The same actor, with `role` in the tenant.
    pub fn with_role(mut self, role: impl Into<String>) -> Actor {
        self.role = Some(role.into());
        self
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The role, when the app gave one.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// Whether this is the server's own code rather than a client.
    pub fn is_server(&self) -> bool {
        self.server
    }
}

impl From<&str> for Actor {
    fn from(subject: &str) -> Actor {
        Actor::user(subject)
    }
}

impl From<String> for Actor {
    fn from(subject: String) -> Actor {
        Actor::user(subject)
    }
}

/// A change as rules see it, before last-write-wins decides it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Proposed<'a, T> {
    /// A create or update carrying the whole entity.
    Upsert(&'a T),
    /// A delete of the entity with this id.
    Delete {
        /// The entity's id.
        id: &'a str,
    },
}

/// An app's rules for the writes of one entity, registered with
/// [`Registry::with_rules`](super::Registry::with_rules). Every method has a default that
/// allows everything and does nothing.
pub trait Rules<T: Syncable>: Send + Sync + 'static {
    /// Refuses an invalid change with a detail: NACK `validation_error`, not retryable.
    fn validate(&self, change: &Proposed<'_, T>) -> Result<(), String> {
        let _ = change;
        Ok(())
    }

    /// Refuses a change `actor` may not make in `tenant` with a detail: NACK `forbidden`,
    /// not retryable. Runs before [`validate`](Self::validate), so a refused writer learns
    /// nothing of the rules' other checks.
    fn authorize(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        change: &Proposed<'_, T>,
    ) -> Result<(), String> {
        let _ = (actor, tenant, change);
        Ok(())
    }

    /// Called once for every committed change of the entity that was applied (not for a
    /// superseded or duplicate one), with its stored state: the entity, its version and
    /// sequence number, or a delete. It runs on one task of the engine, in commit order,
    /// after the writer has moved on: keep it short and spawn longer work. It is at most
    /// once: if commits outpace it, the excess is dropped, logged and counted
    /// (`sync_after_commit_dropped_total`). A side effect that must not be missed reads
    /// the change feed ([`Engine::changes_since`](crate::engine::Engine::changes_since))
    /// from a cursor it stores instead.
    fn after_commit(&self, tenant: &TenantId, committed: &TypedChange<T>) {
        let _ = (tenant, committed);
    }
}

/// A registry-wide check on who may write, whatever the entity, registered with
/// [`Registry::with_authorizer`](super::Registry::with_authorizer). It runs before the
/// entity's own rules; a refusal is NACK `forbidden`. Closures of the same signature are
/// authorizers.
pub trait Authorizer: Send + Sync + 'static {
    /// Refuses a change `actor` may not make in `tenant`, with a detail.
    fn authorize(&self, actor: &Actor, tenant: &TenantId, change: &Change) -> Result<(), String>;
}

impl<F> Authorizer for F
where
    F: Fn(&Actor, &TenantId, &Change) -> Result<(), String> + Send + Sync + 'static,
{
    fn authorize(&self, actor: &Actor, tenant: &TenantId, change: &Change) -> Result<(), String> {
        self(actor, tenant, change)
    }
}

/// [`Rules`] with the entity type erased, as the registry keeps them.
pub(crate) trait ErasedRules: Send + Sync {
    /// The change's refusal, if the rules refuse it.
    fn screen(&self, actor: &Actor, tenant: &TenantId, change: &Change) -> Option<Rejection>;
    /// Tells the rules of a committed state.
    fn committed(&self, tenant: &TenantId, effect: &Effect);
}

pub(crate) struct TypedRules<T, R> {
    rules: R,
    entity: PhantomData<fn() -> T>,
}

impl<T, R> TypedRules<T, R> {
    pub(crate) fn new(rules: R) -> TypedRules<T, R> {
        TypedRules {
            rules,
            entity: PhantomData,
        }
    }
}

impl<T: Syncable, R: Rules<T>> ErasedRules for TypedRules<T, R> {
    fn screen(&self, actor: &Actor, tenant: &TenantId, change: &Change) -> Option<Rejection> {
        let decoded;
        let proposed = if change.operation == Operation::Delete {
            Proposed::Delete {
                id: &change.entity_id,
            }
        } else {
            decoded = match super::handler::proposed_entity::<T>(change) {
                Ok(entity) => entity,
                // Rules that cannot see the entity do not let it through: the change is
                // refused as the store would refuse it.
                Err(rejection) => return Some(rejection),
            };
            Proposed::Upsert(&decoded)
        };
        if let Err(detail) = self.rules.authorize(actor, tenant, &proposed) {
            return Some(Rejection::new(Reason::Forbidden, detail));
        }
        if let Err(detail) = self.rules.validate(&proposed) {
            return Some(Rejection::new(Reason::ValidationError, detail));
        }
        None
    }

    fn committed(&self, tenant: &TenantId, effect: &Effect) {
        match TypedChange::<T>::from_effect(effect) {
            Ok(Some(committed)) => self.rules.after_commit(tenant, &committed),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%tenant, entity_id = %effect.entity_id, %error, "a committed state does not decode for its after-commit rule");
            }
        }
    }
}
