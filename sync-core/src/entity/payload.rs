//! Typed payloads: [`Payload`] is what a typed change carries (one entity type, or an app's
//! payload enum over all of them), and [`Schema`] is that enum, declared once per app with
//! `#[derive(SyncSchema)]`.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::{Registry, RegistryBuilder, Syncable};
use crate::error::Result;
use crate::typescript::Interface;

/// A typed entity value that names its own entity type: every [`Syncable`] type, and an
/// app's [`Schema`] enum. What [`TypedChange`](crate::change::TypedChange) carries.
pub trait Payload: Serialize + Send + Sync + Sized + 'static {
    /// The wire name of the entity this value is, e.g. `"Account"`.
    fn entity_type(&self) -> &'static str;

    /// The entity's id, as the string the wire uses.
    fn id(&self) -> String;

    /// The registered spelling of `entity_type` (matched ignoring ASCII case) when it is an
    /// entity this payload type can hold, else `None`.
    fn resolve(entity_type: &str) -> Option<&'static str>;

    /// Decodes the JSON of an entity of `entity_type`. `Ok(None)` when this payload type
    /// holds no entity of that name; an error when the JSON does not fit the entity.
    fn from_json(entity_type: &str, data: Json) -> Result<Option<Self>, serde_json::Error>;

    /// The entity's JSON, as the wire carries it (without the entity type).
    fn to_json(&self) -> Result<Json, serde_json::Error>;
}

impl<T: Syncable> Payload for T {
    fn entity_type(&self) -> &'static str {
        T::ENTITY
    }

    fn id(&self) -> String {
        Syncable::id(self)
    }

    fn resolve(entity_type: &str) -> Option<&'static str> {
        entity_type
            .eq_ignore_ascii_case(T::ENTITY)
            .then_some(T::ENTITY)
    }

    fn from_json(entity_type: &str, data: Json) -> Result<Option<Self>, serde_json::Error> {
        match Self::resolve(entity_type) {
            Some(_) => serde_json::from_value(data).map(Some),
            None => Ok(None),
        }
    }

    fn to_json(&self) -> Result<Json, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// An app's entities, declared once as an enum with one variant per entity:
/// implemented by `#[derive(SyncSchema)]`.
///
/// The enum's serde form is the part of a sync queue entry that carries the entity,
/// `{"entityType": "Account", "payload": {…}}`, so it reads straight from a
/// `process_sync_entry` payload (other fields are ignored) and from a `changes` entry (it
/// also accepts `entity_type` and `data`). The entity type matches ignoring ASCII case, as
/// on the wire; an unknown one is an error naming the known ones.
///
/// ```
/// use chrono::{DateTime, Utc};
/// use serde::{Deserialize, Serialize};
/// use sync_core::entity::{Payload, Schema};
/// use sync_core::{SyncSchema, Syncable};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
/// pub struct Tag {
///     #[sync(id)]
///     pub id: String,
///     pub name: String,
///     #[sync(updated_at)]
///     pub updated_at: Option<DateTime<Utc>>,
/// }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
/// pub struct Note {
///     #[sync(id)]
///     pub id: String,
///     pub text: String,
///     #[sync(updated_at)]
///     pub updated_at: Option<DateTime<Utc>>,
/// }
///
/// #[derive(Debug, Clone, PartialEq, SyncSchema)]
/// pub enum AppPayload {
///     Tag(Tag),
///     Note(Note),
/// }
///
/// // The registry in one line.
/// let registry = AppPayload::registry().unwrap();
/// assert_eq!(registry.len(), 2);
/// assert_eq!(AppPayload::ENTITIES, ["Tag", "Note"]);
///
/// // Exactly the wire format, with the entity type matched as the server matches it.
/// let entry = r#"{"id":"c1","entityType":"tag","entityId":"t1","operationType":"create",
///                 "payload":{"id":"t1","name":"travel","updated_at":null}}"#;
/// let payload: AppPayload = serde_json::from_str(entry).unwrap();
/// let tag = Tag { id: "t1".into(), name: "travel".into(), updated_at: None };
/// assert_eq!(payload, AppPayload::Tag(tag.clone()));
/// assert_eq!(payload.entity_type(), "Tag");
/// assert_eq!(
///     serde_json::to_string(&payload).unwrap(),
///     r#"{"entityType":"Tag","payload":{"id":"t1","name":"travel","updated_at":null}}"#
/// );
/// assert_eq!(AppPayload::from(tag), payload);
///
/// let unknown = serde_json::from_str::<AppPayload>(r#"{"entityType":"Nope","payload":{}}"#);
/// assert!(unknown.unwrap_err().to_string().contains("expected one of Tag, Note"));
/// ```
pub trait Schema: Payload + DeserializeOwned {
    /// The wire name of every entity, in variant order.
    const ENTITIES: &'static [&'static str];

    /// Adds every entity to `builder`, in variant order.
    fn register(builder: RegistryBuilder) -> RegistryBuilder;

    /// The registry of every entity: `Registry::builder()` with each one, built.
    fn registry() -> Result<Registry> {
        Self::register(Registry::builder()).build()
    }

    /// Every entity's TypeScript interface, in variant order (see
    /// [`typescript::declarations`](crate::typescript::declarations)).
    fn typescript() -> Vec<Interface>;
}
