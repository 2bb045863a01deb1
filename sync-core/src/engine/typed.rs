//! Typed writes and reads through the engine, for server code: a batch of
//! [`TypedChange`]s committed together ([`Engine::write`]), the stored state of an entity
//! as a typed change with its version and sequence number ([`Engine::state`]), and the
//! tenant's change feed, typed ([`Engine::changes_since`]). The single-entity CRUD is
//! [`Engine::put`], [`Engine::delete`], [`Engine::get`] and [`Engine::list`].
//!
//! Like [`Engine::put`] and [`Engine::delete`], every write here is grouped, sequenced,
//! published to the tenant's sessions and announced on the bus exactly as a client's.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_core::change::TypedChange;
//! use sync_core::engine::{Config, Engine};
//! use sync_core::entity::Schema;
//! use sync_core::hub::Hub;
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::{SyncSchema, Syncable, TenantId};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
//! pub struct Tag {
//!     #[sync(id)]
//!     pub id: String,
//!     pub name: String,
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! #[derive(Debug, Clone, PartialEq, SyncSchema)]
//! pub enum Payload {
//!     Tag(Tag),
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Payload::registry().unwrap()).open().await.unwrap();
//! let engine = Engine::new(store, Hub::new(64), Config::default());
//! let tenant = TenantId::new("household").unwrap();
//!
//! // Typed CRUD: the writes reach every connected session.
//! let travel = Tag { id: "t1".into(), name: "travel".into(), updated_at: None };
//! engine.put(&tenant, &travel).await.unwrap();
//! assert_eq!(engine.get::<Tag>(&tenant, "t1").await.unwrap().unwrap().name, "travel");
//!
//! // Several typed changes, committed together.
//! let work = Tag { id: "t2".into(), name: "work".into(), updated_at: None };
//! let changes = vec![TypedChange::<Payload>::upsert(work), TypedChange::delete_of::<Tag>("t1")];
//! let outcomes = engine.write(&tenant, &changes).await.unwrap();
//! assert_eq!(outcomes.len(), 2);
//! assert_eq!(engine.list::<Tag>(&tenant).await.unwrap().len(), 1);
//!
//! // The feed, typed: each change with its version and sequence number.
//! let page = engine.changes_since::<Payload>(&tenant, 0, 100).await.unwrap();
//! let kinds: Vec<_> = page.changes.iter().map(|change| (change.id(), change.is_delete())).collect();
//! assert_eq!(kinds, [("t2".to_owned(), false), ("t1".to_owned(), true)]);
//! assert_eq!(page.cursor, 3);
//! # });
//! ```

use super::{Engine, SubmitError};
use crate::change::TypedChange;
use crate::entity::{Actor, Payload, Syncable};
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::store::Store;
use crate::tenant::TenantId;

/// One page of a tenant's change feed, typed (see [`Engine::changes_since`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TypedPage<P> {
    /// The changes, in sequence order, each with its version and sequence number. Changes
    /// of entities that `P` does not hold are left out.
    pub changes: Vec<TypedChange<P>>,
    /// The cursor to ask from next.
    pub cursor: u64,
    /// Whether more changes follow this page.
    pub has_more: bool,
    /// The requested cursor is older than the tombstone horizon: read again from 0.
    pub reset: bool,
}

impl<S: Store> Engine<S> {
    /// Commits `changes` together, in one group commit, as if one client had sent them
    /// as a batch: sequenced, published to the tenant's sessions and announced on the bus.
    /// Returns one outcome per change, in order.
    ///
    /// The changes pass the registry's rules as [`Actor::server`]; use
    /// [`write_as`](Self::write_as) to write for a user.
    pub async fn write<P: Payload>(
        &self,
        tenant: &TenantId,
        changes: &[TypedChange<P>],
    ) -> Result<Vec<Outcome>, SubmitError> {
        self.write_as(&Actor::server(), tenant, changes).await
    }

    /// [`write`](Self::write) for `actor`, e.g. the user a REST request acts for: the
    /// registry's rules authorize and validate each change for that actor, as for the
    /// actor's own sync session.
    pub async fn write_as<P: Payload>(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        changes: &[TypedChange<P>],
    ) -> Result<Vec<Outcome>, SubmitError> {
        let changes = changes
            .iter()
            .map(TypedChange::to_change)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| SubmitError::Invalid(error.to_string()))?;
        Ok(self.submit_as(actor, tenant, None, changes).await?.outcomes)
    }

    /// The stored state of the entity of type `T` with `id` as a typed change: an upsert
    /// of the live entity or a delete for a tombstone, with its version and the sequence
    /// number of its last change; `None` when nothing is stored for it.
    pub async fn state<T: Syncable>(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<TypedChange<T>>> {
        let Some(effect) = self.store().get_state(tenant, T::ENTITY, id).await? else {
            return Ok(None);
        };
        TypedChange::from_effect(&effect).map_err(|error| Error::Decode {
            table: T::TABLE,
            id: id.to_owned(),
            source: crate::entity::DecodeError::new("*", error.to_string()),
        })
    }

    /// The tenant's committed changes after `cursor`, at most `limit`, typed as `P`.
    pub async fn changes_since<P: Payload>(
        &self,
        tenant: &TenantId,
        cursor: u64,
        limit: usize,
    ) -> Result<TypedPage<P>> {
        let page = self.store().changes_since(tenant, cursor, limit).await?;
        let mut changes = Vec::with_capacity(page.changes.len());
        for effect in &page.changes {
            match TypedChange::from_effect(effect) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(error) => {
                    return Err(Error::Decode {
                        table: effect.collection,
                        id: effect.entity_id.clone(),
                        source: crate::entity::DecodeError::new("*", error.to_string()),
                    });
                }
            }
        }
        Ok(TypedPage {
            changes,
            cursor: page.cursor,
            has_more: page.has_more,
            reset: page.reset,
        })
    }
}
