//! Entities: the [`Syncable`] contract that `#[derive(Syncable)]` implements, and the
//! [`Registry`] that lets the engine handle any registered entity by its wire name.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_core::{Registry, Syncable};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
//! #[serde(rename_all = "camelCase")]
//! #[sync(entity = "AccountGroup")]
//! pub struct AccountGroup {
//!     #[sync(id)]
//!     pub id: String,
//!     pub name: String,
//!     pub sort_order: i32,
//!     #[serde(rename = "updated_at")]
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! assert_eq!(AccountGroup::ENTITY, "AccountGroup");
//! assert_eq!(AccountGroup::COLLECTION, "account_groups");
//!
//! let registry = Registry::builder().entity::<AccountGroup>().build().unwrap();
//! // Wire names match case-insensitively.
//! assert_eq!(registry.get("accountgroup").unwrap().collection(), "account_groups");
//! ```

mod column;
mod field;
mod handler;
mod payload;
mod registry;
pub mod rules;
pub mod stream;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use column::{Column, Role, SqlType, Value};
pub use field::{
    Field, IdField, Scalar, UpdatedAtField, decode_field, decode_json, json_from_value,
    json_to_value, next_column,
};
pub(crate) use handler::check_entity_id;
pub use handler::{Arrival, Handler, MAX_ENTITY_ID_LEN, Prepared, Write};
pub use payload::{Payload, Schema};
pub use registry::{Registry, RegistryBuilder};
pub use rules::{Actor, Authorizer, Proposed, Rules};

/// An entity that syncs: implemented by `#[derive(Syncable)]`, rarely by hand.
///
/// The JSON side is the type's own serde shape. This trait describes the SQL side: where
/// the entity is stored and how a value becomes a row and back.
///
/// Implementations must keep these promises, which the stores rely on:
/// - [`COLUMNS`](Self::COLUMNS) holds exactly one [`Role::Id`] and one [`Role::UpdatedAt`]
///   column, and names no column starting with `_sync`;
/// - [`to_row`](Self::to_row) returns one [`Value`] per column, in `COLUMNS` order, and
///   [`from_row`](Self::from_row) accepts what `to_row` returned;
/// - the id field serialises under the JSON key [`ID_KEY`](Self::ID_KEY), and the
///   `updated_at` field as an RFC 3339 string under [`UPDATED_AT_KEY`](Self::UPDATED_AT_KEY).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a syncable entity",
    label = "not an entity",
    note = "derive it on the struct: `#[derive(Serialize, Deserialize, Syncable)]`"
)]
pub trait Syncable: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The wire name, e.g. `"Account"` (`entityType` in the protocol).
    const ENTITY: &'static str;
    /// The collection name in loads, e.g. `"accounts"`.
    const COLLECTION: &'static str;
    /// The SQL table.
    const TABLE: &'static str;
    /// The stored columns, in field order.
    const COLUMNS: &'static [Column];
    /// The JSON key of the id field. Default `"id"`.
    const ID_KEY: &'static str = "id";
    /// The JSON key of the `updated_at` field.
    const UPDATED_AT_KEY: &'static str;
    /// How concurrent changes combine: whole-row last-write-wins unless the derive says
    /// `#[sync(merge = "field")]` (see [`merge`](crate::merge)).
    const MERGE: crate::merge::Merge = crate::merge::Merge::Row;
    /// The entity's [streams](stream): none unless the derive declares some with
    /// `#[sync(stream(...))]`. Without streams the entity syncs whole to every client.
    const STREAMS: &'static [stream::Stream<Self>] = &[];

    /// The id, as the string the wire uses.
    fn id(&self) -> String;
    /// The version, if set.
    fn updated_at(&self) -> Option<DateTime<Utc>>;
    /// Sets the version.
    fn set_updated_at(&mut self, at: DateTime<Utc>);
    /// Encodes the stored fields as a row.
    fn to_row(&self) -> Vec<Value>;
    /// Decodes a row produced by [`to_row`](Self::to_row).
    fn from_row(row: Vec<Value>) -> Result<Self, DecodeError>;

    /// The entity's TypeScript interface: its JSON keys as serde writes them, with their
    /// types (see [`typescript`](crate::typescript)). The default, for hand-written
    /// impls, is an interface that allows any key.
    fn typescript() -> crate::typescript::Interface {
        crate::typescript::Interface {
            name: Self::ENTITY.to_owned(),
            entity: Self::ENTITY.to_owned(),
            doc: None,
            properties: Vec::new(),
        }
    }
}

/// A stored row that does not decode into its entity: the schema and the data disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct DecodeError {
    /// The column that failed.
    pub column: &'static str,
    /// What was wrong with it.
    pub message: String,
}

impl DecodeError {
    /// A decode error at `column`.
    pub fn new(column: &'static str, message: impl Into<String>) -> DecodeError {
        DecodeError {
            column,
            message: message.into(),
        }
    }
}
