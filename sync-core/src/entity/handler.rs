//! The type-erased handler through which stores process any registered entity by name.
//!
//! One generic implementation, instantiated per entity by the registry, validates every
//! incoming change: the rules of versions and payloads are written once, not per entity.

use std::marker::PhantomData;
use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::column::{Column, Value};
use super::stream::{Route, Routes, StreamSpec, bucket_of};
use super::{DecodeError, Syncable};
use crate::change::{Change, Operation};
use crate::merge::{self, FIELD_VERSIONS_KEY, Merge, Merged};
use crate::outcome::{Effect, Reason, Rejection};
use crate::version::Version;

/// The server's clock as a change arrives: fills missing versions and clamps future ones.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The arrival time.
    pub now: Version,
    /// How far in the future a version may be before it is clamped to `now`.
    pub max_clock_skew: Duration,
}

/// A validated change, ready for the last-write-wins decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The change's version.
    pub version: Version,
    /// Whether the version was clamped to the arrival time.
    pub clamped: bool,
    /// What to write if the change wins.
    pub write: Write,
}

/// The write a winning change makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Store this row (in [`Handler::columns`] order), whose JSON is `data`.
    Upsert {
        /// The encoded row.
        row: Vec<Value>,
        /// The entity's JSON as stored, with its version.
        data: Json,
    },
    /// Mark the entity deleted.
    Delete,
}

/// One registered entity, type-erased: what the stores and the engine call.
pub trait Handler: Send + Sync + 'static {
    /// The wire name.
    fn entity(&self) -> &'static str;
    /// The collection name.
    fn collection(&self) -> &'static str;
    /// The SQL table.
    fn table(&self) -> &'static str;
    /// The stored columns.
    fn columns(&self) -> &'static [Column];
    /// The JSON key of the id.
    fn id_key(&self) -> &'static str;
    /// The JSON key of `updated_at`.
    fn updated_at_key(&self) -> &'static str;
    /// Validates `change` and encodes what it would write.
    fn prepare(&self, change: &Change, arrival: Arrival) -> Result<Prepared, Rejection>;
    /// The JSON of a stored row.
    fn row_to_json(&self, row: Vec<Value>) -> Result<Json, DecodeError>;

    /// The JSON of a tombstone: its id and version, under the entity's own keys.
    fn tombstone_json(&self, entity_id: &str, version: Version) -> Json {
        let mut object = Map::new();
        object.insert(self.id_key().to_owned(), Json::String(entity_id.to_owned()));
        object.insert(
            self.updated_at_key().to_owned(),
            Json::String(version.to_string()),
        );
        Json::Object(object)
    }

    /// How the entity's concurrent changes combine (see [`merge`](crate::merge)).
    fn merge(&self) -> Merge {
        Merge::Row
    }

    /// Merges a change's `row` (as [`prepare`](Self::prepare) encoded it) at `version`
    /// into the live `stored` state, field by field. Only called for a
    /// [`Merge::Field`] entity.
    fn merge_live(
        &self,
        stored: &Effect,
        row: &[Value],
        version: Version,
    ) -> Result<Merged, Rejection> {
        let _ = (stored, row, version);
        Err(not_field_merged(self.entity()))
    }

    /// The entity's declared [streams](super::stream), in declaration order.
    fn streams(&self) -> &[StreamSpec] {
        &[]
    }

    /// What a change did to each stream's buckets, from the row's stored state before it
    /// (`old`) and after it (`new`): one key evaluation per stream and image.
    fn routes(&self, _old: Option<&Effect>, _new: &Effect) -> Routes {
        Routes::new()
    }

    /// The bucket of a live row's JSON in the stream at `index` of
    /// [`streams`](Self::streams); `None` when the filter refuses it or its key is NULL.
    fn bucket(&self, _index: usize, _data: &Json) -> Option<String> {
        None
    }

    /// The partition key of a row's JSON in the stream at `index`, whatever the filter
    /// says: what decides whether a principal may write the row.
    fn partition_key(&self, _index: usize, _data: &Json) -> Option<String> {
        None
    }

    /// The index of the column with `role` in [`columns`](Self::columns).
    fn position(&self, role: super::Role) -> usize {
        self.columns()
            .iter()
            .position(|column| column.role == role)
            .expect("the registry checks that every entity has an id and an updated_at")
    }
}

/// The one implementation of [`Handler`], for any [`Syncable`] type.
pub(crate) struct Typed<T> {
    streams: Vec<StreamSpec>,
    entity: PhantomData<fn() -> T>,
}

impl<T: Syncable> Typed<T> {
    pub(crate) fn new() -> Typed<T> {
        Typed {
            streams: T::STREAMS.iter().map(StreamSpec::of).collect(),
            entity: PhantomData,
        }
    }
}

/// A stored live state as its entity, for bucket keys; `None` for a tombstone or a state
/// that does not decode (which then is in no bucket).
fn live_entity<T: Syncable>(state: &Effect) -> Option<T> {
    if state.deleted {
        return None;
    }
    T::deserialize(&state.data).ok()
}

/// The longest entity id accepted, in bytes.
pub const MAX_ENTITY_ID_LEN: usize = 255;

impl<T: Syncable> Handler for Typed<T> {
    fn entity(&self) -> &'static str {
        T::ENTITY
    }

    fn collection(&self) -> &'static str {
        T::COLLECTION
    }

    fn table(&self) -> &'static str {
        T::TABLE
    }

    fn columns(&self) -> &'static [Column] {
        T::MERGE
            .fields()
            .map_or(T::COLUMNS, |fields| fields.columns)
    }

    fn id_key(&self) -> &'static str {
        T::ID_KEY
    }

    fn updated_at_key(&self) -> &'static str {
        T::UPDATED_AT_KEY
    }

    fn prepare(&self, change: &Change, arrival: Arrival) -> Result<Prepared, Rejection> {
        check_entity_id(&change.entity_id)?;
        let empty = Map::new();
        let object = match (&change.payload, change.operation) {
            (Some(Json::Object(object)), _) => object,
            (None | Some(Json::Null), Operation::Delete) => &empty,
            (None | Some(Json::Null), _) => {
                return Err(validation(format!(
                    "payload: a {} needs the entity's JSON object",
                    change.operation
                )));
            }
            (Some(other), _) => {
                return Err(validation(format!(
                    "payload: expected a JSON object, found {}",
                    json_kind(other)
                )));
            }
        };
        let (version, clamped) = resolve_version(object.get(T::UPDATED_AT_KEY), arrival)?;

        if change.operation == Operation::Delete {
            if let Some(id) = object.get(T::ID_KEY).filter(|id| !id.is_null())
                && id.as_str() != Some(change.entity_id.as_str())
            {
                return Err(mismatch(id, &change.entity_id));
            }
            return Ok(Prepared {
                version,
                clamped,
                write: Write::Delete,
            });
        }

        let fields = T::MERGE.fields();
        let named = fields.and(object.get(FIELD_VERSIONS_KEY));
        let entity: T = read_entity(change.payload.as_ref(), object, version)?;
        let id = entity.id();
        if id != change.entity_id {
            return Err(mismatch(&Json::String(id), &change.entity_id));
        }
        let mut data = entity_json(&entity).map_err(|error| validation(error.to_string()))?;
        let mut row = entity.to_row();
        if let Some(fields) = fields {
            let versions = merge::incoming_versions(fields, named, version)?;
            let versions = merge::versions_json(fields, &versions);
            row.push(Value::Json(versions.clone()));
            if let Some(object) = data.as_object_mut() {
                object.insert(FIELD_VERSIONS_KEY.to_owned(), versions);
            }
        }
        Ok(Prepared {
            version,
            clamped,
            write: Write::Upsert { row, data },
        })
    }

    fn row_to_json(&self, mut row: Vec<Value>) -> Result<Json, DecodeError> {
        let versions = match T::MERGE.fields() {
            Some(_) if row.len() > T::COLUMNS.len() => row.pop(),
            _ => None,
        };
        let entity = T::from_row(row)?;
        let mut json =
            entity_json(&entity).map_err(|error| DecodeError::new("*", error.to_string()))?;
        if let (Some(fields), Some(versions), Some(object)) =
            (T::MERGE.fields(), versions, json.as_object_mut())
        {
            let at = entity
                .updated_at()
                .and_then(|at| Version::try_from_datetime(at).ok())
                .unwrap_or(Version::MIN);
            object.insert(
                FIELD_VERSIONS_KEY.to_owned(),
                merge::column_versions(fields, versions, at),
            );
        }
        Ok(json)
    }

    fn merge(&self) -> Merge {
        T::MERGE
    }

    fn streams(&self) -> &[StreamSpec] {
        &self.streams
    }

    fn routes(&self, old: Option<&Effect>, new: &Effect) -> Routes {
        if T::STREAMS.is_empty() {
            return Routes::new();
        }
        let before = old.and_then(live_entity::<T>);
        let after = live_entity::<T>(new);
        T::STREAMS
            .iter()
            .map(|stream| Route {
                seq: new.seq,
                stream: stream.name,
                entity_id: new.entity_id.clone(),
                old: before.as_ref().and_then(|row| bucket_of(stream, row)),
                new: after.as_ref().and_then(|row| bucket_of(stream, row)),
                deleted: new.deleted,
            })
            .collect()
    }

    fn bucket(&self, index: usize, data: &Json) -> Option<String> {
        let stream = T::STREAMS.get(index)?;
        let row = T::deserialize(data).ok()?;
        bucket_of(stream, &row)
    }

    fn partition_key(&self, index: usize, data: &Json) -> Option<String> {
        let stream = T::STREAMS.get(index)?;
        let row = T::deserialize(data).ok()?;
        (stream.key)(&row)
    }

    fn merge_live(
        &self,
        stored: &Effect,
        row: &[Value],
        version: Version,
    ) -> Result<Merged, Rejection> {
        match T::MERGE {
            Merge::Field(fields) => merge::merge_live::<T>(fields, stored, row, version),
            Merge::Row => Err(not_field_merged(T::ENTITY)),
        }
    }
}

/// The entity in an upsert's `object` (its `payload`), read with `version` in the
/// canonical form. A payload that already carries it (what clients send) is read in place;
/// any other is copied and fixed. A field-merged change's field versions are not the
/// entity's.
fn read_entity<T: Syncable>(
    payload: Option<&Json>,
    object: &Map<String, Json>,
    version: Version,
) -> Result<T, Rejection> {
    let canonical = version.canonical();
    let named = T::MERGE.fields().and(object.get(FIELD_VERSIONS_KEY));
    match (payload, object.get(T::UPDATED_AT_KEY)) {
        (Some(payload), Some(Json::String(text)))
            if text == canonical.as_str() && named.is_none() =>
        {
            T::deserialize(payload)
        }
        _ => {
            let mut object = object.clone();
            if named.is_some() {
                object.remove(FIELD_VERSIONS_KEY);
            }
            object.insert(
                T::UPDATED_AT_KEY.to_owned(),
                Json::String(canonical.as_str().to_owned()),
            );
            serde_json::from_value(Json::Object(object))
        }
    }
    .map_err(|error| validation(error.to_string()))
}

/// The entity of an upsert as the store will read it, for the app's
/// [rules](super::rules): the same checks and messages as [`Handler::prepare`]'s, with the
/// version read against the server's clock now.
pub(crate) fn proposed_entity<T: Syncable>(change: &Change) -> Result<T, Rejection> {
    let Some(Json::Object(object)) = &change.payload else {
        return Err(validation(format!(
            "payload: a {} needs the entity's JSON object",
            change.operation
        )));
    };
    let arrival = Arrival {
        now: Version::now(),
        max_clock_skew: crate::store::DEFAULT_MAX_CLOCK_SKEW,
    };
    let (version, _) = resolve_version(object.get(T::UPDATED_AT_KEY), arrival)?;
    read_entity(change.payload.as_ref(), object, version)
}

/// The entity's JSON, its version in the canonical form (milliseconds, `Z`) whatever the
/// serde shape prints, so every replica prints the same text for the same version.
fn entity_json<T: Syncable>(entity: &T) -> Result<Json, serde_json::Error> {
    let mut json = serde_json::to_value(entity)?;
    let version = entity
        .updated_at()
        .and_then(|at| Version::try_from_datetime(at).ok());
    if let (Some(object), Some(version)) = (json.as_object_mut(), version) {
        object.insert(
            T::UPDATED_AT_KEY.to_owned(),
            Json::String(version.to_string()),
        );
    }
    Ok(json)
}

fn not_field_merged(entity: &str) -> Rejection {
    validation(format!("{entity} is not merged per field"))
}

fn validation(detail: String) -> Rejection {
    Rejection::new(Reason::ValidationError, detail)
}

fn mismatch(payload_id: &Json, entity_id: &str) -> Rejection {
    Rejection::new(
        Reason::PayloadMismatch,
        format!("payload id {payload_id} does not match entityId {entity_id:?}"),
    )
}

pub(crate) fn check_entity_id(entity_id: &str) -> Result<(), Rejection> {
    if entity_id.is_empty() {
        Err(validation("entityId: must not be empty".to_owned()))
    } else if entity_id.len() > MAX_ENTITY_ID_LEN {
        Err(validation(format!(
            "entityId: longer than {MAX_ENTITY_ID_LEN} bytes"
        )))
    } else {
        Ok(())
    }
}

/// The change's version: its `updated_at` normalised, the arrival time when it has none,
/// and the arrival time again when it lies further in the future than the allowed skew.
fn resolve_version(field: Option<&Json>, arrival: Arrival) -> Result<(Version, bool), Rejection> {
    let version = match field {
        None | Some(Json::Null) => return Ok((arrival.now, false)),
        Some(Json::String(text)) => {
            Version::parse(text).map_err(|error| validation(format!("updated_at: {error}")))?
        }
        Some(other) => {
            return Err(validation(format!(
                "updated_at: expected an RFC 3339 string, found {}",
                json_kind(other)
            )));
        }
    };
    let skew = i64::try_from(arrival.max_clock_skew.as_millis()).unwrap_or(i64::MAX);
    if version > arrival.now.add_millis(skew) {
        Ok((arrival.now, true))
    } else {
        Ok((version, false))
    }
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
