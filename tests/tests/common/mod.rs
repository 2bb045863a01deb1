//! Entities and helpers shared by the store tests.
#![allow(dead_code, reason = "each test file uses a different part")]

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_core::change::{Change, Operation};
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Registry, Syncable, TenantId};

pub(crate) mod backend;
pub(crate) use backend::{Backend, Fixture, store_tests};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
pub(crate) struct Account {
    #[sync(id)]
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) balance: f64,
    pub(crate) credit_limit: Option<f64>,
    #[serde(default)]
    #[sync(json)]
    pub(crate) tag_ids: Vec<String>,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub(crate) updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AccountGroup")]
pub(crate) struct AccountGroup {
    #[sync(id)]
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) sort_order: i32,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub(crate) updated_at: Option<DateTime<Utc>>,
}

pub(crate) fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<AccountGroup>()
        .build()
        .unwrap()
}

/// A store in a fresh directory. `Synchronous::Off`: durability is not what these test.
pub(crate) async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path(), registry())
        .synchronous(Synchronous::Off)
        .open()
        .await
        .unwrap();
    (dir, store)
}

pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// The JSON a client sends for an account.
pub(crate) fn account_json(id: &str, name: &str, updated_at: Option<&str>) -> serde_json::Value {
    let mut json = json!({ "id": id, "name": name, "balance": 10.5, "tagIds": ["t1"] });
    if let Some(at) = updated_at {
        json["updated_at"] = json!(at);
    }
    json
}

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
