//! Changes: what a client asks the server to do to one entity.
//!
//! ```
//! use sync_core::change::{Change, Operation};
//!
//! assert_eq!(Operation::parse("DELETE"), Some(Operation::Delete));
//! let change = Change::delete("Account", "acc-1");
//! assert_eq!(change.operation, Operation::Delete);
//! assert_eq!(change.entity_id, "acc-1");
//! ```

use crate::entity::{Payload, Syncable};
use crate::outcome::Effect;
use crate::version::Version;

/// The longest change id accepted, in bytes.
pub const MAX_CHANGE_ID_LEN: usize = 128;

pub use sync_protocol::Operation;

/// One change to one entity, named by wire name so any registered entity can be handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The change id: unique per change, the idempotency key of retries.
    pub id: String,
    /// The entity's wire name, matched case-insensitively.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// What to do.
    pub operation: Operation,
    /// The entity's JSON for create and update; `{"id": …}`, maybe with `updated_at`, or
    /// nothing for delete.
    pub payload: Option<serde_json::Value>,
}

impl Change {
    /// An update carrying `entity`'s current state, with a fresh change id.
    pub fn upsert<T: Syncable>(entity: &T) -> Result<Change, serde_json::Error> {
        Ok(Change {
            id: new_change_id(),
            entity_type: T::ENTITY.to_owned(),
            entity_id: entity.id(),
            operation: Operation::Update,
            payload: Some(serde_json::to_value(entity)?),
        })
    }

    /// A delete of `entity_id` with a fresh change id; its version is the arrival time.
    pub fn delete(entity_type: impl Into<String>, entity_id: impl Into<String>) -> Change {
        Change {
            id: new_change_id(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            operation: Operation::Delete,
            payload: None,
        }
    }

    /// The same change under another change id.
    pub fn with_id(mut self, id: impl Into<String>) -> Change {
        self.id = id.into();
        self
    }
}

/// A typed change of one entity: what Rust code on either end works with instead of
/// [`Change`]'s JSON. `P` is one entity type (`TypedChange<Account>`) or an app's payload
/// enum (`TypedChange<Payload>`, see [`Schema`](crate::entity::Schema)).
///
/// `version` and `cursor` are set where they are known: on a change read from the store or
/// the feed, or applied by a replica, not on one about to be sent.
///
/// ```
/// # use chrono::{DateTime, Utc};
/// # use serde::{Deserialize, Serialize};
/// # use sync_core::Syncable;
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
/// # pub struct Tag {
/// #     #[sync(id)]
/// #     pub id: String,
/// #     pub name: String,
/// #     #[sync(updated_at)]
/// #     pub updated_at: Option<DateTime<Utc>>,
/// # }
/// use sync_core::change::{Operation, TypedChange};
///
/// let tag = Tag { id: "t1".into(), name: "travel".into(), updated_at: None };
/// let change = TypedChange::upsert(tag.clone());
/// assert_eq!((change.id(), change.entity()), ("t1".to_owned(), Some(&tag)));
///
/// // What a store applies and the wire carries.
/// let untyped = change.to_change().unwrap();
/// assert_eq!((untyped.entity_type.as_str(), untyped.operation), ("Tag", Operation::Update));
///
/// let delete = TypedChange::<Tag>::delete("t1");
/// assert!(delete.is_delete());
/// assert_eq!(delete.to_change().unwrap().payload, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum TypedChange<P> {
    /// The entity was created or replaced; `entity` is its state.
    Upsert {
        /// The entity.
        entity: P,
        /// Its version, where known.
        version: Option<Version>,
        /// The tenant sequence number of the change, where known.
        cursor: Option<u64>,
    },
    /// The entity was deleted (a tombstone).
    Delete {
        /// The entity's wire name.
        entity_type: &'static str,
        /// The entity's id.
        id: String,
        /// The delete's version, where known.
        version: Option<Version>,
        /// The tenant sequence number of the change, where known.
        cursor: Option<u64>,
    },
}

impl<P: Payload> TypedChange<P> {
    /// An upsert of `entity`, without version or cursor.
    pub fn upsert(entity: impl Into<P>) -> TypedChange<P> {
        TypedChange::Upsert {
            entity: entity.into(),
            version: None,
            cursor: None,
        }
    }

    /// A delete of the entity of type `T` with `id`, without version or cursor.
    pub fn delete_of<T: Syncable>(id: impl Into<String>) -> TypedChange<P> {
        TypedChange::Delete {
            entity_type: T::ENTITY,
            id: id.into(),
            version: None,
            cursor: None,
        }
    }

    /// Reads an entity's state as a store or replica holds it. `Ok(None)` when `P` holds no
    /// entity named `entity_type`; an error when a live state's JSON does not fit.
    pub fn from_state(
        entity_type: &str,
        entity_id: &str,
        deleted: bool,
        data: serde_json::Value,
        version: Option<Version>,
        cursor: Option<u64>,
    ) -> Result<Option<TypedChange<P>>, serde_json::Error> {
        let Some(entity_type) = P::resolve(entity_type) else {
            return Ok(None);
        };
        if deleted {
            return Ok(Some(TypedChange::Delete {
                entity_type,
                id: entity_id.to_owned(),
                version,
                cursor,
            }));
        }
        Ok(
            P::from_json(entity_type, data)?.map(|entity| TypedChange::Upsert {
                entity,
                version,
                cursor,
            }),
        )
    }

    /// The committed state `effect`, with its version and sequence number.
    pub fn from_effect(effect: &Effect) -> Result<Option<TypedChange<P>>, serde_json::Error> {
        TypedChange::from_state(
            effect.entity_type,
            &effect.entity_id,
            effect.deleted,
            effect.data.clone(),
            Some(effect.version),
            Some(effect.seq),
        )
    }

    /// The entity's wire name.
    pub fn entity_type(&self) -> &'static str {
        match self {
            TypedChange::Upsert { entity, .. } => entity.entity_type(),
            TypedChange::Delete { entity_type, .. } => entity_type,
        }
    }

    /// The entity's id.
    pub fn id(&self) -> String {
        match self {
            TypedChange::Upsert { entity, .. } => entity.id(),
            TypedChange::Delete { id, .. } => id.clone(),
        }
    }

    /// The entity, unless this is a delete.
    pub fn entity(&self) -> Option<&P> {
        match self {
            TypedChange::Upsert { entity, .. } => Some(entity),
            TypedChange::Delete { .. } => None,
        }
    }

    /// The entity, unless this is a delete.
    pub fn into_entity(self) -> Option<P> {
        match self {
            TypedChange::Upsert { entity, .. } => Some(entity),
            TypedChange::Delete { .. } => None,
        }
    }

    /// Whether this is a delete.
    pub fn is_delete(&self) -> bool {
        matches!(self, TypedChange::Delete { .. })
    }

    /// The version, where known.
    pub fn version(&self) -> Option<Version> {
        match self {
            TypedChange::Upsert { version, .. } | TypedChange::Delete { version, .. } => *version,
        }
    }

    /// The tenant sequence number, where known.
    pub fn cursor(&self) -> Option<u64> {
        match self {
            TypedChange::Upsert { cursor, .. } | TypedChange::Delete { cursor, .. } => *cursor,
        }
    }

    /// The change to hand to a store or send: an update or a delete, with a fresh change
    /// id.
    pub fn to_change(&self) -> Result<Change, serde_json::Error> {
        match self {
            TypedChange::Upsert { entity, .. } => Ok(Change {
                id: new_change_id(),
                entity_type: entity.entity_type().to_owned(),
                entity_id: entity.id(),
                operation: Operation::Update,
                payload: Some(entity.to_json()?),
            }),
            TypedChange::Delete {
                entity_type, id, ..
            } => Ok(Change::delete(*entity_type, id.clone())),
        }
    }
}

impl<T: Syncable> TypedChange<T> {
    /// A delete of the entity with `id`, without version or cursor.
    pub fn delete(id: impl Into<String>) -> TypedChange<T> {
        TypedChange::delete_of::<T>(id)
    }
}

/// A fresh change id: a UUID v7, which sorts by creation time. The store indexes every
/// processed change id, and ids that arrive roughly in order are appended to that index
/// instead of landing on a random page of it: a commit then writes a few pages, not one per
/// change (docs/performance.md measures the difference). The 74 random bits keep ids
/// unguessable and unique.
pub fn new_change_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
