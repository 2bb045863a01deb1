//! Typed helpers over any [`Store`]: the CRUD an app uses with its own entity types.

use std::future::Future;

use super::Store;
use crate::change::Change;
use crate::entity::Syncable;
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::tenant::TenantId;

/// Typed reads and writes for every [`Store`]; writes go through last-write-wins like any
/// client's change.
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

    /// Creates or replaces `entity` under last-write-wins.
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

    /// Deletes the entity with `id`, leaving a tombstone versioned now.
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
