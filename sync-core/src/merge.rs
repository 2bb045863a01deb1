//! Merge policies: how concurrent changes of one entity combine.
//!
//! An entity declares its policy in the derive. `#[sync(merge = "row")]`, the default, is
//! whole-row last-write-wins ([`lww`](crate::lww)): the newer row replaces the older one.
//! `#[sync(merge = "field")]` merges field by field, so two clients that edit different
//! fields of one row offline both keep their edit:
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_core::merge::{Merge, Policy};
//! use sync_core::Syncable;
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
//! #[serde(rename_all = "camelCase")]
//! #[sync(entity = "Profile", merge = "field")]
//! pub struct Profile {
//!     #[sync(id)]
//!     pub id: String,
//!     pub display_name: String,
//!     #[sync(merge = "max")]
//!     pub high_score: i64,
//!     #[serde(rename = "updated_at")]
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! let Merge::Field(fields) = Profile::MERGE else { panic!("field-merged") };
//! let policies: Vec<_> = fields.fields.iter().map(|field| (field.key, field.policy)).collect();
//! assert_eq!(policies, [("displayName", Policy::Lww), ("highScore", Policy::Max)]);
//! ```
//!
//! # The rules of a field-merged entity
//!
//! Each field keeps its own version. A change carries them under the payload key
//! [`FIELD_VERSIONS_KEY`] (`"_fieldVersions": {"displayName": "<version>", ...}`); a field
//! it does not name, or a change without the key (a client that does not know about field
//! versions, such as the FinWise frontend), counts at the change's `updated_at`, so such a
//! writer gets row last-write-wins. A field version newer than the change's `updated_at`
//! is lowered to it: the `updated_at` is what the server clamps against clock skew.
//!
//! Merging a change into the stored live row, per field:
//!
//! - `lww` (the default): the higher field version wins; at equal versions the greater
//!   value in a fixed total order of values wins, so the result does not depend on the
//!   order in which changes arrive;
//! - `max`: the greater value wins whatever its version (a high-water mark: monotone,
//!   commutative, idempotent); the field's version is the higher of the two.
//!
//! The row's `updated_at` is the highest `updated_at` of every change merged into it, so
//! it is at least every field version and never goes back.
//!
//! **Deletes win.** A delete of a field-merged entity is final: the tombstone absorbs any
//! change that follows or was concurrent, whatever its version (its version rises to the
//! highest version seen, so it too is independent of arrival order). Undoing a delete
//! field by field cannot be made to converge without keeping every deleted field's value
//! and version in the tombstone; re-create the entity under a new id instead. The rule
//! holds while the tombstone is kept (the store's tombstone retention).
//!
//! Each step is a join (commutative, associative, idempotent), so any order and any
//! duplication of the same changes ends in the same row (`tests/tests/store_merge.rs`
//! checks this on both stores).
//!
//! # Why no counter
//!
//! A counter needs deltas applied exactly once. The server recognises a retry by its
//! change id only until the processed ids expire with the tombstone horizon; the client
//! coalesces pending changes of one entity into one and sends whole rows. A delta would be
//! counted twice by a retry after the horizon and lost or doubled by coalescing, so the
//! only monotone numeric policy offered is `max`.

use serde_json::{Map, Value as Json};

use crate::entity::{Column, Role, SqlType, Syncable, Value, json_from_value};
use crate::outcome::{Effect, Reason, Rejection};
use crate::version::Version;

/// The payload key under which a field-merged entity's changes carry their field versions.
pub const FIELD_VERSIONS_KEY: &str = "_fieldVersions";

/// The hidden column in which the stores keep a field-merged entity's field versions:
/// JSON text in SQLite, JSONB in PostgreSQL.
pub const FIELD_VERSIONS_COLUMN: &str = "_sync_field_versions";

/// The column metadata of [`FIELD_VERSIONS_COLUMN`].
pub const FIELD_VERSIONS: Column = Column {
    name: FIELD_VERSIONS_COLUMN,
    field: FIELD_VERSIONS_KEY,
    sql_type: SqlType::Json,
    nullable: true,
    role: Role::Data,
    indexed: false,
    default: None,
};

/// How concurrent changes of an entity combine ([`Syncable::MERGE`]).
#[derive(Debug, Clone, Copy)]
pub enum Merge {
    /// Whole-row last-write-wins: the default.
    Row,
    /// Last-write-wins per field, with per-field policies.
    Field(&'static Fields),
}

/// The per-field merge of an entity.
#[derive(Debug)]
pub struct Fields {
    /// The stored columns: the entity's [`Syncable::COLUMNS`], then [`FIELD_VERSIONS`].
    pub columns: &'static [Column],
    /// Every stored field but the id and `updated_at`, in column order.
    pub fields: &'static [FieldMerge],
}

/// The policy of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldMerge {
    /// The field's JSON key, as serde writes it: the key in `_fieldVersions`.
    pub key: &'static str,
    /// Its index in [`Syncable::COLUMNS`].
    pub column: usize,
    /// How its concurrent values combine.
    pub policy: Policy,
}

/// How the concurrent values of one field combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The higher field version wins; ties go to the greater value.
    Lww,
    /// The greater value wins, whatever its version.
    Max,
}

impl Merge {
    /// The per-field merge, if the entity has one.
    pub fn fields(self) -> Option<&'static Fields> {
        match self {
            Merge::Row => None,
            Merge::Field(fields) => Some(fields),
        }
    }
}

/// One version per field of `fields`, in their order.
pub(crate) type Versions = Vec<Version>;

/// The field versions a change names, each at most `version`; a field it does not name
/// is at `version`.
pub(crate) fn incoming_versions(
    fields: &Fields,
    named: Option<&Json>,
    version: Version,
) -> Result<Versions, Rejection> {
    let named = match named {
        None | Some(Json::Null) => None,
        Some(Json::Object(object)) => Some(object),
        Some(_) => {
            return Err(Rejection::new(
                Reason::ValidationError,
                format!("{FIELD_VERSIONS_KEY}: expected an object of field names to versions"),
            ));
        }
    };
    fields
        .fields
        .iter()
        .map(|field| match named.and_then(|named| named.get(field.key)) {
            None | Some(Json::Null) => Ok(version),
            Some(Json::String(text)) => Version::parse(text)
                .map(|named| named.min(version))
                .map_err(|error| {
                    Rejection::new(
                        Reason::ValidationError,
                        format!("{FIELD_VERSIONS_KEY}.{}: {error}", field.key),
                    )
                }),
            Some(_) => Err(Rejection::new(
                Reason::ValidationError,
                format!(
                    "{FIELD_VERSIONS_KEY}.{}: expected an RFC 3339 string",
                    field.key
                ),
            )),
        })
        .collect()
}

/// The field versions a stored state holds (from its JSON or its hidden column); a field
/// without one (a row written before the entity was field-merged) is at `version`.
fn stored_versions(fields: &Fields, named: Option<&Json>, version: Version) -> Versions {
    let named = named.and_then(Json::as_object);
    fields
        .fields
        .iter()
        .map(|field| {
            named
                .and_then(|named| named.get(field.key))
                .and_then(Json::as_str)
                .and_then(|text| Version::parse(text).ok())
                .unwrap_or(version)
        })
        .collect()
}

/// The JSON of field versions: `{"<key>": "<version>", ...}`.
pub(crate) fn versions_json(fields: &Fields, versions: &[Version]) -> Json {
    Json::Object(
        fields
            .fields
            .iter()
            .zip(versions)
            .map(|(field, version)| (field.key.to_owned(), Json::String(version.to_string())))
            .collect::<Map<String, Json>>(),
    )
}

/// The field versions kept in the hidden column's value.
pub(crate) fn column_versions(fields: &Fields, value: Value, version: Version) -> Json {
    let named: Option<Json> = json_from_value(value).ok();
    versions_json(fields, &stored_versions(fields, named.as_ref(), version))
}

/// The entity's JSON without its field versions, for its serde type.
fn without_versions(data: &Json) -> Json {
    match data {
        Json::Object(object) if object.contains_key(FIELD_VERSIONS_KEY) => {
            let mut object = object.clone();
            object.remove(FIELD_VERSIONS_KEY);
            Json::Object(object)
        }
        other => other.clone(),
    }
}

/// The row (in `T::COLUMNS` order) and field versions of a live state's JSON.
fn decode_state<T: Syncable>(
    fields: &Fields,
    data: &Json,
    version: Version,
) -> Result<(Vec<Value>, Versions), Rejection> {
    let entity: T = serde_json::from_value(without_versions(data)).map_err(|error| {
        Rejection::new(
            Reason::StorageError,
            format!("the stored {} does not decode: {error}", T::ENTITY),
        )
    })?;
    let versions = stored_versions(fields, data.get(FIELD_VERSIONS_KEY), version);
    Ok((entity.to_row(), versions))
}

/// A field-merged live state: its stored row (`T::COLUMNS`, then the field versions) and
/// JSON (with `_fieldVersions`).
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The row to store.
    pub row: Vec<Value>,
    /// Its JSON.
    pub data: Json,
    /// Its version: the highest `updated_at` merged into it.
    pub version: Version,
    /// Whether it differs from the stored state (else the change changed nothing).
    pub changed: bool,
    /// Whether it differs from the change's own state (so its origin must adopt it).
    pub differs: bool,
}

/// Merges an incoming change (`row`, in stored-column order, at `version`) into the stored
/// live state `stored`, field by field.
pub(crate) fn merge_live<T: Syncable>(
    fields: &Fields,
    stored: &Effect,
    row: &[Value],
    version: Version,
) -> Result<Merged, Rejection> {
    let (stored_row, stored_versions) = decode_state::<T>(fields, &stored.data, stored.version)?;
    let width = T::COLUMNS.len();
    let incoming_row = &row[..width];
    let incoming_versions = stored_versions_of(fields, row.get(width), version);

    let mut merged_row = stored_row.clone();
    let mut merged_versions = stored_versions.clone();
    for (index, field) in fields.fields.iter().enumerate() {
        let (ours, theirs) = (&stored_row[field.column], &incoming_row[field.column]);
        let (our_version, their_version) = (stored_versions[index], incoming_versions[index]);
        match field.policy {
            Policy::Lww => {
                let incoming_wins = their_version
                    .cmp(&our_version)
                    .then_with(|| total_order(theirs, ours))
                    .is_gt();
                if incoming_wins {
                    merged_row[field.column] = theirs.clone();
                    merged_versions[index] = their_version;
                }
            }
            Policy::Max => {
                if total_order(theirs, ours).is_gt() {
                    merged_row[field.column] = theirs.clone();
                }
                merged_versions[index] = our_version.max(their_version);
            }
        }
    }
    let merged_version = stored.version.max(version);
    let at = T::COLUMNS
        .iter()
        .position(|column| column.role == Role::UpdatedAt)
        .expect("the registry checks that every entity has an updated_at");
    merged_row[at] = Value::Timestamp(merged_version.to_datetime());

    let changed = merged_version != stored.version
        || merged_versions != stored_versions
        || merged_row.iter().zip(&stored_row).any(|(a, b)| a != b);
    let differs = merged_version != version
        || merged_versions != incoming_versions
        || merged_row
            .iter()
            .zip(incoming_row)
            .enumerate()
            .any(|(index, (a, b))| index != at && a != b);

    let entity = T::from_row(merged_row).map_err(|error| {
        Rejection::new(
            Reason::ValidationError,
            format!("the merged {} does not decode: {error}", T::ENTITY),
        )
    })?;
    let versions = versions_json(fields, &merged_versions);
    let mut row = entity.to_row();
    row.push(Value::Json(versions.clone()));
    let mut data = serde_json::to_value(&entity)
        .map_err(|error| Rejection::new(Reason::ValidationError, error.to_string()))?;
    if let Some(object) = data.as_object_mut() {
        object.insert(
            T::UPDATED_AT_KEY.to_owned(),
            Json::String(merged_version.to_string()),
        );
        object.insert(FIELD_VERSIONS_KEY.to_owned(), versions);
    }
    Ok(Merged {
        row,
        data,
        version: merged_version,
        changed,
        differs,
    })
}

/// The field versions in a prepared row's hidden column.
fn stored_versions_of(fields: &Fields, value: Option<&Value>, version: Version) -> Versions {
    let named: Option<Json> = value.cloned().and_then(|value| json_from_value(value).ok());
    stored_versions(fields, named.as_ref(), version)
}

/// The field versions of a local edit on a replica: a field whose value differs from the
/// `previous` live state's gets `version`, the others keep theirs. Without a previous
/// live state every field is at `version`.
pub fn local_versions<T: Syncable>(
    fields: &Fields,
    previous: Option<&Effect>,
    row: &[Value],
    version: Version,
) -> Json {
    let previous = previous
        .filter(|state| !state.deleted)
        .and_then(|state| decode_state::<T>(fields, &state.data, state.version).ok());
    let versions: Versions = match previous {
        None => vec![version; fields.fields.len()],
        Some((previous_row, previous_versions)) => fields
            .fields
            .iter()
            .zip(previous_versions)
            .map(|(field, kept)| {
                if previous_row[field.column] == row[field.column] {
                    kept.min(version)
                } else {
                    version
                }
            })
            .collect(),
    };
    versions_json(fields, &versions)
}

/// A total order of the values of one column, for ties: nulls first, then by
/// [`Value::compare`]; values that do not compare (NaN, JSON documents) by kind, then by
/// IEEE total order or by their JSON text. The same on every server and replica.
pub fn total_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if let (Value::Real(x), Value::Real(y)) = (a, b) {
        // Not `compare`: -0.0 and 0.0 are equal there, and a tie must be a real tie.
        return x.total_cmp(y);
    }
    if let Some(order) = a.compare(b) {
        return order;
    }
    let rank = |value: &Value| match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Real(_) => 2,
        Value::Text(_) => 3,
        Value::Uuid(_) => 4,
        Value::Timestamp(_) => 5,
        Value::Date(_) => 6,
        Value::Json(_) => 7,
    };
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.total_cmp(y),
        #[allow(
            clippy::cast_precision_loss,
            reason = "ordering an integer against a NaN"
        )]
        (Value::Int(x), Value::Real(y)) => (*x as f64).total_cmp(y),
        #[allow(
            clippy::cast_precision_loss,
            reason = "ordering a NaN against an integer"
        )]
        (Value::Real(x), Value::Int(y)) => x.total_cmp(&(*y as f64)),
        (Value::Json(x), Value::Json(y)) => x.to_string().cmp(&y.to_string()),
        _ => Ordering::Equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Three values of one column: one kind, or null.
    fn column() -> impl Strategy<Value = [Value; 3]> {
        fn of<S: Strategy<Value = Value> + Clone>(kind: S) -> impl Strategy<Value = [Value; 3]> {
            let cell = prop_oneof![1 => Just(Value::Null), 4 => kind];
            [cell.clone(), cell.clone(), cell]
        }
        prop_oneof![
            of(any::<i64>().prop_map(Value::Int)),
            of(any::<f64>().prop_map(Value::Real)),
            of("[a-c]{0,3}".prop_map(Value::Text)),
            of(any::<bool>().prop_map(Value::Bool)),
            of("[a-c]{0,2}".prop_map(|text| Value::Json(Json::String(text)))),
        ]
    }

    fn identical(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    proptest! {
        #[test]
        fn the_tie_break_is_a_total_order([a, b, c] in column()) {
            prop_assert_eq!(total_order(&a, &b), total_order(&b, &a).reverse());
            prop_assert_eq!(total_order(&a, &b).is_eq(), identical(&a, &b));
            if total_order(&a, &b).is_le() && total_order(&b, &c).is_le() {
                prop_assert!(total_order(&a, &c).is_le(), "{:?} {:?} {:?}", a, b, c);
            }
        }
    }
}
