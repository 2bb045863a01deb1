//! Typed helpers over any [`Store`]: the CRUD an app uses with its own entity types.
//!
//! The writes here, [`StoreExt::put`] and [`StoreExt::delete`], go straight to the store:
//! they bypass sync. Nothing is broadcast, connected clients learn of them only when they
//! next catch up, and other server nodes are not told. Server code that writes while
//! clients are connected uses [`Engine::put`](crate::engine::Engine::put) and
//! [`Engine::delete`](crate::engine::Engine::delete) instead. The reads are the same either
//! way.

use std::future::Future;

use super::Store;
use crate::change::Change;
use crate::entity::Syncable;
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::tenant::TenantId;

/// Typed reads and writes for every [`Store`]; writes go through last-write-wins like any
/// client's change, but bypass sync: nothing is broadcast, and connected clients learn of
/// them only when they next catch up. Server code that writes while clients are connected
/// uses [`Engine::put`](crate::engine::Engine::put) and
/// [`Engine::delete`](crate::engine::Engine::delete) instead.
pub trait StoreExt: Store {
    /// The live entity with `id`, if any.
    fn get<T: Syncable>(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move {
            match self.get_state(tenant, T::ENTITY, id).await? {
                Some(state) if !state.deleted => decode(state.data, id).map(Some),
                _ => Ok(None),
            }
        }
    }

    /// Every live entity of type `T`.
    fn list<T: Syncable>(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<T>>> + Send {
        async move {
            self.list_json(tenant, T::ENTITY)
                .await?
                .into_iter()
                .map(|json| decode(json, "?"))
                .collect()
        }
    }

    /// Creates or replaces `entity` under last-write-wins, directly in the store: no
    /// session is told and no other node hears of it. To write while clients are connected,
    /// use [`Engine::put`](crate::engine::Engine::put).
    fn put<T: Syncable>(
        &self,
        tenant: &TenantId,
        entity: &T,
    ) -> impl Future<Output = Result<Outcome>> + Send {
        let change = Change::upsert(entity);
        async move {
            let change = change.map_err(|error| Error::Decode {
                table: T::TABLE,
                id: entity.id(),
                source: crate::entity::DecodeError::new("*", error.to_string()),
            })?;
            single(self.apply(tenant, &[change]).await?)
        }
    }

    /// Deletes the entity with `id`, leaving a tombstone versioned now, directly in the
    /// store: no session is told and no other node hears of it. To delete while clients are
    /// connected, use [`Engine::delete`](crate::engine::Engine::delete).
    fn delete<T: Syncable>(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<Outcome>> + Send {
        let change = Change::delete(T::ENTITY, id);
        async move { single(self.apply(tenant, &[change]).await?) }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

fn decode<T: Syncable>(json: serde_json::Value, id: &str) -> Result<T> {
    serde_json::from_value(json).map_err(|error| Error::Decode {
        table: T::TABLE,
        id: id.to_owned(),
        source: crate::entity::DecodeError::new("*", error.to_string()),
    })
}

fn single(batch: crate::outcome::BatchOutcome) -> Result<Outcome> {
    Ok(batch
        .outcomes
        .into_iter()
        .next()
        .expect("one change gives one outcome"))
}
