//! What `#[derive(SyncSchema)]` and the typed payloads give at run time: the registry in
//! one line, the enum's serde form (the wire's `entityType`/`payload` pair), typed changes,
//! and the TypeScript interfaces `#[derive(Syncable)]` describes.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_core::change::{Operation, TypedChange};
use sync_core::entity::{Payload, Schema};
use sync_core::outcome::Effect;
use sync_core::typescript::TsType;
use sync_core::version::Version;
use sync_core::{SyncSchema, Syncable};
use uuid::Uuid;

/// A bank account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    /// Display name.
    #[sync(index)]
    name: String,
    balance: f64,
    credit_limit: Option<f64>,
    #[serde(rename = "logo_path", default)]
    logo_path: Option<String>,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Kind {
    Expense,
    Income,
}

impl TsType for Kind {
    fn ts_type() -> String {
        "\"EXPENSE\" | \"INCOME\"".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Opaque {
    anything: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    #[sync(id)]
    id: Uuid,
    account_id: String,
    date: NaiveDate,
    #[sync(json)]
    r#type: Kind,
    #[sync(json)]
    tag_ids: Vec<String>,
    #[sync(json)]
    limits: BTreeMap<String, f64>,
    #[sync(json)]
    opaque: Opaque,
    #[sync(json, ts = "{ anything: number }")]
    described: Opaque,
    #[serde(skip_serializing_if = "Option::is_none", rename(serialize = "memo"))]
    note: Option<String>,
    #[serde(skip)]
    #[sync(skip)]
    cache: u32,
    #[sync(updated_at)]
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, SyncSchema)]
enum AppPayload {
    Account(Account),
    Transaction(Transaction),
}

fn giro() -> Account {
    Account {
        id: "a1".into(),
        name: "Giro".into(),
        balance: 2.5,
        credit_limit: None,
        logo_path: None,
        updated_at: None,
    }
}

#[test]
fn the_registry_is_one_line() {
    let registry = AppPayload::registry().unwrap();
    let names: Vec<_> = registry.iter().map(|handler| handler.entity()).collect();
    assert_eq!(names, ["Account", "Transaction"]);
    assert_eq!(AppPayload::ENTITIES, ["Account", "Transaction"]);
    assert_eq!(AppPayload::resolve("TRANSACTION"), Some("Transaction"));
    assert_eq!(AppPayload::resolve("Tag"), None);
}

#[test]
fn the_serde_form_is_the_wire_pair() {
    let payload = AppPayload::from(giro());
    let json = serde_json::to_value(&payload).unwrap();
    assert_eq!(
        json,
        json!({"entityType": "Account", "payload": {
            "id": "a1", "name": "Giro", "balance": 2.5, "creditLimit": null,
            "logo_path": null, "updated_at": null,
        }})
    );
    assert_eq!(serde_json::from_value::<AppPayload>(json).unwrap(), payload);

    // A whole sync queue entry, as a FinWise client sends it, any letter case.
    let entry = json!({
        "id": "c1", "tenantId": "t", "entityType": "account", "entityId": "a1",
        "operationType": "update", "timestamp": 1, "status": "pending",
        "payload": {"id": "a1", "name": "Giro", "balance": 2.5, "image": "ignored"},
    });
    assert_eq!(
        serde_json::from_value::<AppPayload>(entry).unwrap(),
        payload
    );

    // A `changes` entry names it `entity_type` and `data`.
    let feed = json!({"entity_type": "Account", "operation_type": "update", "cursor": 3,
                      "data": {"id": "a1", "name": "Giro", "balance": 2.5}});
    assert_eq!(serde_json::from_value::<AppPayload>(feed).unwrap(), payload);
}

#[test]
fn decoding_errors_say_what_is_wrong() {
    let unknown = serde_json::from_value::<AppPayload>(json!({"entityType": "Tag", "payload": {}}))
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("unknown entity type \"Tag\": expected one of Account, Transaction"),
        "{unknown}"
    );
    let missing = serde_json::from_value::<AppPayload>(
        json!({"entityType": "Account", "payload": {"id": "a1", "name": "Giro"}}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        missing.contains("Account: missing field `balance`"),
        "{missing}"
    );
    let untagged = serde_json::from_value::<AppPayload>(json!({"payload": {}}))
        .unwrap_err()
        .to_string();
    assert!(
        untagged.contains("missing field `entityType`"),
        "{untagged}"
    );
}

#[test]
fn payload_accessors() {
    let payload = AppPayload::from(giro());
    assert_eq!(payload.entity_type(), "Account");
    assert_eq!(Payload::id(&payload), "a1");
    assert_eq!(payload.to_json().unwrap()["name"], "Giro");
    assert_eq!(
        AppPayload::from_json(
            "account",
            json!({"id": "a1", "name": "Giro", "balance": 2.5})
        )
        .unwrap(),
        Some(payload)
    );
    assert_eq!(AppPayload::from_json("tag", json!({})).unwrap(), None);
}

#[test]
fn typed_changes_of_one_entity_and_of_the_schema() {
    let upsert = TypedChange::<Account>::upsert(giro());
    let change = upsert.to_change().unwrap();
    assert_eq!(change.entity_type, "Account");
    assert_eq!(change.entity_id, "a1");
    assert_eq!(change.operation, Operation::Update);
    assert_eq!(change.payload.unwrap()["name"], "Giro");

    let delete = TypedChange::<AppPayload>::delete_of::<Transaction>("x1");
    assert_eq!(
        (delete.entity_type(), delete.id()),
        ("Transaction", "x1".to_owned())
    );
    let change = delete.to_change().unwrap();
    assert_eq!(change.operation, Operation::Delete);
    assert_eq!(change.payload, None);

    // From a committed state: the version and the cursor are known.
    let version = Version::parse("2026-01-02T03:04:05.678Z").unwrap();
    let effect = Effect {
        entity_type: "Account",
        collection: "accounts",
        entity_id: "a1".into(),
        deleted: false,
        version,
        seq: 7,
        data: json!({"id": "a1", "name": "Giro", "balance": 2.5, "updated_at": version.to_string()}),
    };
    let typed = TypedChange::<AppPayload>::from_effect(&effect)
        .unwrap()
        .unwrap();
    assert_eq!((typed.version(), typed.cursor()), (Some(version), Some(7)));
    let Some(AppPayload::Account(account)) = typed.entity() else {
        panic!("an account: {typed:?}");
    };
    assert_eq!(account.updated_at, Some(version.to_datetime()));

    let tombstone = Effect {
        deleted: true,
        data: json!({"id": "a1", "updated_at": version.to_string()}),
        ..effect.clone()
    };
    let typed = TypedChange::<Account>::from_effect(&tombstone)
        .unwrap()
        .unwrap();
    assert!(typed.is_delete());
    assert_eq!(typed.id(), "a1");
    assert_eq!(typed.entity(), None);

    // A state of an entity the payload type does not hold is no typed change of it.
    let other = Effect {
        entity_type: "Transaction",
        ..effect
    };
    assert_eq!(TypedChange::<Account>::from_effect(&other).unwrap(), None);
}

#[test]
fn interfaces_use_the_serialised_keys_and_types() {
    assert_eq!(
        Account::typescript().render(),
        "\
/** A bank account. */
export interface Account {
  id: string;
  /** Display name. */
  name: string;
  balance: number;
  creditLimit?: number | null;
  logo_path?: string | null;
  updated_at?: string | null;
}"
    );
    assert_eq!(
        Transaction::typescript().render(),
        "\
export interface Transaction {
  id: string;
  accountId: string;
  date: string;
  type: \"EXPENSE\" | \"INCOME\";
  tagIds: string[];
  limits: Record<string, number>;
  opaque: unknown;
  described: { anything: number };
  memo?: string | null;
  updatedAt: string;
}"
    );
}

#[test]
fn declarations_cover_the_schema_and_the_protocol() {
    let file = sync_core::typescript::declarations::<AppPayload>();
    assert!(file.starts_with("// Generated by sync-core"));
    assert!(file.contains("export type EntityType = \"Account\" | \"Transaction\";"));
    assert!(file.contains(
        "export interface Entities {\n  Account: Account;\n  Transaction: Transaction;\n}"
    ));
    for message in [
        "ClientMessage",
        "ServerMessage",
        "SyncEntry",
        "DataUpdate",
        "SyncAck",
        "SyncNack",
    ] {
        assert!(
            file.contains(&format!("export type {message}"))
                || file.contains(&format!("export interface {message}")),
            "{message}"
        );
    }
}
