//! Streams: declared subsets of an entity that a client subscribes to instead of receiving
//! the whole tenant (partial sync, `docs/partial-sync.md`).
//!
//! A stream partitions an entity's rows by one `#[sync(index)]` column: each value of that
//! column is a *bucket*. A client subscribes to a stream with the keys it wants; an
//! optional pure, row-local filter drops rows from every bucket, and a least role gates the
//! stream. The derive declares them:
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//! use sync_core::Syncable;
//! use sync_core::entity::stream::bucket_of;
//!
//! fn cleared(row: &Payment) -> bool {
//!     !row.draft
//! }
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
//! #[sync(stream(name = "by_account", by = account_id, filter = cleared, role = "viewer"))]
//! pub struct Payment {
//!     #[sync(id)]
//!     pub id: String,
//!     #[sync(index)]
//!     pub account_id: String,
//!     pub draft: bool,
//!     #[sync(updated_at)]
//!     pub updated_at: Option<DateTime<Utc>>,
//! }
//!
//! let stream = &Payment::STREAMS[0];
//! assert_eq!((stream.name, stream.by), ("by_account", "account_id"));
//! let row = Payment { id: "p1".into(), account_id: "A".into(), draft: false, updated_at: None };
//! assert_eq!(bucket_of(stream, &row).as_deref(), Some("A"));
//! let draft = Payment { draft: true, ..row };
//! assert_eq!(bucket_of(stream, &draft), None, "the filter keeps drafts out of every bucket");
//! ```
//!
//! The server evaluates a change's bucket once per stream of its entity, in the tenant's
//! writer, from the row's old and new images ([`Routes`]); never once per subscription.
//! A row that leaves a bucket is recorded in the moves feed, so a client that was offline
//! learns it left.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use uuid::Uuid;

use super::column::SqlType;

/// One declared stream of the entity `T`.
pub struct Stream<T: 'static> {
    /// The stream's name, unique per registry (the wire's `stream`).
    pub name: &'static str,
    /// The SQL column that partitions it: a bucket is one of its values.
    pub by: &'static str,
    /// The partition column's type, which a client's keys must parse as.
    pub key_type: SqlType,
    /// The row's bucket key: the partition column's value, `None` when it is NULL.
    pub key: fn(&T) -> Option<String>,
    /// A pure row-local filter: a row it refuses is in no bucket of this stream.
    pub filter: Option<fn(&T) -> bool>,
    /// The filter's name, part of the definition's hash.
    pub filter_name: &'static str,
    /// The least role that may subscribe: `None` for anyone with access to the tenant.
    pub role: Option<&'static str>,
    /// Where a subscription's keys come from.
    pub keys: Keys,
    /// The membership entity that ties keys to the principal, for [`Keys::Principal`] and
    /// [`Keys::Both`].
    pub via: Option<Via>,
    /// The roles a stream keyed by the principal does not bind: their sessions receive the
    /// entity whole and write it anywhere, as if it had no such stream, and their
    /// subscriptions to a [`Keys::Both`] stream take the keys they ask for. Empty (the
    /// default): it binds every role, and a principal with no role.
    pub whole: &'static [&'static str],
}

/// Where a subscription's keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// The client chooses them (`parameters`): a subset for bandwidth and storage, not an
    /// access boundary.
    Params,
    /// The principal's memberships give them; the client's parameters are ignored.
    Principal,
    /// The client's parameters, intersected with the principal's memberships.
    Both,
}

impl Keys {
    /// Whether the principal's memberships bound the keys: the entity is then *restricted*,
    /// and a client receives it only through this stream.
    pub fn restricts(self) -> bool {
        !matches!(self, Keys::Params)
    }

    fn name(self) -> &'static str {
        match self {
            Keys::Params => "params",
            Keys::Principal => "principal",
            Keys::Both => "both",
        }
    }
}

/// One hop from the principal to a stream's keys: the live rows of a membership entity
/// whose `member_column` holds the principal's subject give the keys in `key_column`.
#[derive(Debug, Clone, Copy)]
pub struct Via {
    /// The membership entity's wire name.
    pub entity: &'static str,
    /// Its column holding the principal's subject (indexed).
    pub member_column: &'static str,
    /// Its column holding an allowed key (indexed).
    pub key_column: &'static str,
    /// A membership row's subject.
    pub member: fn(&serde_json::Value) -> Option<String>,
    /// A membership row's key.
    pub key: fn(&serde_json::Value) -> Option<String>,
}

impl PartialEq for Via {
    /// The same entity and columns: the functions are the derive's readers of them.
    fn eq(&self, other: &Via) -> bool {
        (self.entity, self.member_column, self.key_column)
            == (other.entity, other.member_column, other.key_column)
    }
}

impl Eq for Via {}

impl Via {
    /// The membership lookup as a stream of the membership entity partitioned by its
    /// member column, so a store reads a principal's memberships as one bucket.
    pub fn lookup(&self) -> StreamSpec {
        StreamSpec {
            entity: self.entity,
            name: "",
            by: self.member_column,
            key_type: super::SqlType::Text,
            filter: "",
            role: None,
            keys: Keys::Params,
            via: None,
            whole: &[],
            definition: String::new(),
        }
    }
}

/// The SQL column of `field` in `columns`, which must be indexed; evaluated at compile time
/// by the derive, so a membership field that is missing or has no index is a compile error.
pub const fn membership_column(columns: &'static [super::Column], field: &str) -> &'static str {
    let mut index = 0;
    while index < columns.len() {
        if bytes_equal(columns[index].field.as_bytes(), field.as_bytes()) {
            if !columns[index].indexed {
                panic!("a stream's membership field must be #[sync(index)] on its entity");
            }
            return columns[index].name;
        }
        index += 1;
    }
    panic!("the membership entity has no stored field of that name");
}

const fn bytes_equal(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let mut index = 0;
    while index < left.len() {
        if left[index] != right[index] {
            return false;
        }
        index += 1;
    }
    true
}

impl<T> Stream<T> {
    /// The definition hash: a client whose subscription was made under another definition
    /// gets its buckets replaced (`bucket_removed` reason `definition`, then a reload).
    pub fn definition(&self) -> String {
        let via = self.via.map_or(String::new(), |via| {
            format!("{}.{}.{}", via.entity, via.member_column, via.key_column)
        });
        let mut text = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{via}",
            self.name,
            self.by,
            self.filter_name,
            self.role.unwrap_or(""),
            self.keys.name()
        );
        // Appended only when set, so the hash of a stream without it is unchanged.
        if !self.whole.is_empty() {
            text.push('\u{1f}');
            text.push_str(&self.whole.join(","));
        }
        format!("{:016x}", crate::hub::subject_key(&text))
    }
}

/// A stream's type-erased description, as [`Handler::streams`](super::Handler::streams)
/// gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// The entity's wire name.
    pub entity: &'static str,
    /// The stream's name.
    pub name: &'static str,
    /// The partition column.
    pub by: &'static str,
    /// Its type.
    pub key_type: SqlType,
    /// The filter's name, empty without one.
    pub filter: &'static str,
    /// The least role, if any.
    pub role: Option<&'static str>,
    /// Where keys come from.
    pub keys: Keys,
    /// The membership hop, for keys of the principal.
    pub via: Option<Via>,
    /// The roles the stream's memberships do not bind ([`Stream::whole`]).
    pub whole: &'static [&'static str],
    /// The definition hash.
    pub definition: String,
}

impl StreamSpec {
    pub(crate) fn of<T: super::Syncable>(stream: &Stream<T>) -> StreamSpec {
        StreamSpec {
            entity: T::ENTITY,
            name: stream.name,
            by: stream.by,
            key_type: stream.key_type,
            filter: stream.filter_name,
            role: stream.role,
            keys: stream.keys,
            via: stream.via,
            whole: stream.whole,
            definition: stream.definition(),
        }
    }

    /// Whether the stream's memberships bind a session of `role`: its keys come from them,
    /// and the entity reaches it only through the stream. False for a stream of
    /// client-chosen keys and for the roles of [`whole`](Self::whole).
    pub fn binds(&self, role: Option<&str>) -> bool {
        self.keys.restricts() && !role.is_some_and(|role| self.whole.contains(&role))
    }

    /// The stream as a session of `role` subscribes to it: a [`Keys::Both`] stream that does
    /// not bind the role takes the client's keys as they are (the definition is the same).
    pub fn as_seen_by(&self, role: Option<&str>) -> StreamSpec {
        let mut spec = self.clone();
        if spec.keys == Keys::Both && !spec.binds(role) {
            spec.keys = Keys::Params;
        }
        spec
    }

    /// Whether `key` can be a value of the partition column: a client's key of the wrong
    /// shape is refused at subscribe, not matched against nothing.
    pub fn accepts_key(&self, key: &str) -> bool {
        if key.is_empty() || key.len() > super::MAX_ENTITY_ID_LEN {
            return false;
        }
        match self.key_type {
            SqlType::Uuid => Uuid::parse_str(key).is_ok(),
            SqlType::SmallInt => key.parse::<i16>().is_ok(),
            SqlType::Int => key.parse::<i32>().is_ok(),
            SqlType::BigInt => key.parse::<i64>().is_ok(),
            SqlType::Date => key.parse::<NaiveDate>().is_ok(),
            _ => true,
        }
    }
}

/// The bucket of `row` in `stream`: its key, unless the key is NULL or the filter refuses
/// the row. Counts one key evaluation ([`key_evaluations`]).
pub fn bucket_of<T>(stream: &Stream<T>, row: &T) -> Option<String> {
    KEY_EVALUATIONS.fetch_add(1, Ordering::Relaxed);
    if stream.filter.is_some_and(|filter| !filter(row)) {
        return None;
    }
    (stream.key)(row)
}

static KEY_EVALUATIONS: AtomicU64 = AtomicU64::new(0);

/// How many bucket keys this process evaluated: the cost of streams per change is this
/// counter's growth, which the partial-sync benchmark reports.
pub fn key_evaluations() -> u64 {
    KEY_EVALUATIONS.load(Ordering::Relaxed)
}

/// What one committed change did to one stream's buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The change's sequence number.
    pub seq: u64,
    /// The stream.
    pub stream: &'static str,
    /// The row's entity id.
    pub entity_id: String,
    /// The bucket the row was in before, if any.
    pub old: Option<String>,
    /// The bucket it is in now; `None` for a tombstone or a row no bucket holds.
    pub new: Option<String>,
    /// The change deleted the row.
    pub deleted: bool,
}

impl Route {
    /// The bucket the row left, if it left one (moved, filtered out or deleted): the moves
    /// feed records it.
    pub fn left(&self) -> Option<&str> {
        self.old
            .as_deref()
            .filter(|old| self.deleted || self.new.as_deref() != Some(*old))
    }
}

/// The routes of one change, per stream of its entity.
pub type Routes = Vec<Route>;

/// A partition column's value as a bucket key: implemented for the column types a stream
/// may partition by. Another type is a compile error at the field.
#[diagnostic::on_unimplemented(
    message = "a stream cannot be partitioned by a `{Self}` column",
    label = "not a bucket key",
    note = "partition by a String, Uuid, integer or NaiveDate field (or an Option of one)"
)]
pub trait BucketKey {
    /// The key, `None` for NULL.
    fn bucket_key(&self) -> Option<String>;
}

macro_rules! bucket_key_to_string {
    ($($ty:ty),*) => {$(
        impl BucketKey for $ty {
            fn bucket_key(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}

bucket_key_to_string!(String, Uuid, i16, i32, i64, NaiveDate);

impl<K: BucketKey> BucketKey for Option<K> {
    fn bucket_key(&self) -> Option<String> {
        self.as_ref().and_then(BucketKey::bucket_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_leaves_its_old_bucket_when_it_moves_or_is_deleted() {
        let route = |old: Option<&str>, new: Option<&str>, deleted| Route {
            seq: 1,
            stream: "s",
            entity_id: "e".to_owned(),
            old: old.map(str::to_owned),
            new: new.map(str::to_owned),
            deleted,
        };
        assert_eq!(route(Some("A"), Some("B"), false).left(), Some("A"));
        assert_eq!(route(Some("A"), Some("A"), false).left(), None);
        assert_eq!(route(Some("A"), None, false).left(), Some("A"));
        assert_eq!(route(Some("A"), None, true).left(), Some("A"));
        assert_eq!(route(None, Some("B"), false).left(), None);
    }

    #[test]
    fn keys_must_parse_as_the_partition_column() {
        let spec = |key_type| StreamSpec {
            entity: "E",
            name: "s",
            by: "c",
            key_type,
            filter: "",
            role: None,
            keys: Keys::Params,
            via: None,
            whole: &[],
            definition: String::new(),
        };
        assert!(spec(SqlType::Uuid).accepts_key("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        assert!(!spec(SqlType::Uuid).accepts_key("not-a-uuid"));
        assert!(!spec(SqlType::Int).accepts_key("x"));
        assert!(spec(SqlType::Text).accepts_key("A"));
        assert!(!spec(SqlType::Text).accepts_key(""));
    }
}
