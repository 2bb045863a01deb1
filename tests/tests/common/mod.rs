//! The change builders shared by the store tests; the entities and stores are
//! sync-testkit's.
#![allow(dead_code, reason = "each test file uses a different part")]

use chrono::{DateTime, Utc};
use serde_json::json;
use sync_core::change::{Change, Operation};
#[allow(unused_imports, reason = "each test file uses a different part")]
pub(crate) use sync_testkit::backend::{self, Backend, Fixture};
#[allow(unused_imports, reason = "each test file uses a different part")]
pub(crate) use sync_testkit::entities::{Account, AccountGroup, account_json, registry};
#[allow(unused_imports, reason = "each test file uses a different part")]
pub(crate) use sync_testkit::store::sqlite as store;
#[allow(unused_imports, reason = "each test file uses a different part")]
pub(crate) use sync_testkit::{store_tests, tenant};

pub(crate) fn upsert(
    change_id: &str,
    operation: Operation,
    id: &str,
    name: &str,
    at: Option<&str>,
) -> Change {
    Change {
        id: change_id.to_owned(),
        entity_type: "Account".to_owned(),
        entity_id: id.to_owned(),
        operation,
        payload: Some(account_json(id, name, at)),
    }
}

pub(crate) fn update(change_id: &str, id: &str, name: &str, at: &str) -> Change {
    upsert(change_id, Operation::Update, id, name, Some(at))
}

pub(crate) fn delete(change_id: &str, id: &str, at: Option<&str>) -> Change {
    Change {
        id: change_id.to_owned(),
        entity_type: "Account".to_owned(),
        entity_id: id.to_owned(),
        operation: Operation::Delete,
        payload: Some(match at {
            Some(at) => json!({ "id": id, "updated_at": at }),
            None => json!({ "id": id }),
        }),
    }
}

/// `2026-01-01T00:00:00.000Z` plus `minutes`.
pub(crate) fn at(minutes: i64) -> String {
    let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    (base + chrono::Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
