//! The entities the tests sync. `Account` covers the column kinds a store must handle (text,
//! real, an optional real, a JSON list, the version); `AccountGroup` and `Tag` are second and
//! third entity types; `Contact` is merged per field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_core::{Registry, Syncable};

/// A FinWise-like account, with the wire's camelCase names and `updated_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
pub struct Account {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// The name, which the tests edit.
    pub name: String,
    /// A required number: a payload without it is invalid.
    pub balance: f64,
    /// An optional number.
    pub credit_limit: Option<f64>,
    /// A list stored as JSON.
    #[serde(default)]
    #[sync(json)]
    pub tag_ids: Vec<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Account {
    /// An account without a version (the store or client stamps one).
    pub fn new(id: &str, name: &str, balance: f64) -> Account {
        Account {
            id: id.to_owned(),
            name: name.to_owned(),
            balance,
            credit_limit: None,
            tag_ids: Vec::new(),
            updated_at: None,
        }
    }
}

/// A second entity type, in its own table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AccountGroup")]
pub struct AccountGroup {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// The name.
    pub name: String,
    /// An integer.
    #[serde(default)]
    pub sort_order: i32,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A third entity type, with field names as they are in Rust.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(entity = "Tag", table = "tags")]
pub struct Tag {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// The name.
    pub name: String,
    /// The version.
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Tag {
    /// A tag without a version.
    pub fn new(id: &str, name: &str) -> Tag {
        Tag {
            id: id.to_owned(),
            name: name.to_owned(),
            updated_at: None,
        }
    }
}

/// An entity merged per field (`#[sync(merge = "field")]`): clients that edit different
/// fields of one contact both keep their edit; `visits` only grows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Contact", table = "contacts", merge = "field")]
pub struct Contact {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// A name, merged by last-write-wins on its own version.
    pub name: String,
    /// An optional e-mail address, merged by last-write-wins on its own version.
    pub email: Option<String>,
    /// A high-water mark: the greatest value wins.
    #[serde(default)]
    #[sync(merge = "max")]
    pub visits: i64,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Contact {
    /// A contact without a version.
    pub fn new(id: &str, name: &str) -> Contact {
        Contact {
            id: id.to_owned(),
            name: name.to_owned(),
            email: None,
            visits: 0,
            updated_at: None,
        }
    }
}

/// `Contact` alone.
pub fn contacts() -> Registry {
    Registry::builder().entity::<Contact>().build().unwrap()
}

/// `Account` and `AccountGroup`.
pub fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<AccountGroup>()
        .build()
        .unwrap()
}

/// `Account` alone.
pub fn accounts() -> Registry {
    Registry::builder().entity::<Account>().build().unwrap()
}

/// The JSON a client sends for an account, with `updated_at` when given.
pub fn account_json(id: &str, name: &str, updated_at: Option<&str>) -> serde_json::Value {
    let mut json = json!({ "id": id, "name": name, "balance": 10.5, "tagIds": ["t1"] });
    if let Some(at) = updated_at {
        json["updated_at"] = json!(at);
    }
    json
}

/// Whether a payment is in its account's bucket: drafts are in none (the stream's filter).
pub fn is_posted(payment: &Payment) -> bool {
    !payment.draft
}

/// An entity with a declared stream: payments partitioned by account, drafts left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Payment", table = "payments")]
#[sync(stream(name = "payments_by_account", by = account_id, filter = is_posted))]
pub struct Payment {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// The account: the stream's partition column.
    #[sync(index)]
    pub account_id: String,
    /// The amount.
    pub amount: i64,
    /// A draft is in no bucket.
    #[serde(default)]
    pub draft: bool,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// `Account` and `Payment`, whose stream is `payments_by_account`.
pub fn streamed() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<Payment>()
        .build()
        .unwrap()
}

/// The JSON a client sends for a payment.
pub fn payment_json(id: &str, account: &str, amount: i64, updated_at: &str) -> serde_json::Value {
    json!({ "id": id, "accountId": account, "amount": amount, "draft": false, "updated_at": updated_at })
}

/// A membership: `user_id` may see the notes of `account_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Grant", table = "grants")]
pub struct Grant {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// The member: a subject.
    #[sync(index)]
    pub user_id: String,
    /// The key it may see.
    #[sync(index)]
    pub account_id: String,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A restricted entity: a client sees (and writes) only the notes of accounts its grants
/// name, intersected with the accounts it asks for; a viewer may not subscribe; an owner
/// is not bound by grants (it gets the notes whole, and the keys it asks for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Note", table = "notes")]
#[sync(stream(name = "notes_by_account", by = account_id, keys = both, via = Grant.account_id, member = user_id, role = "member", whole = ["owner"]))]
pub struct Note {
    /// The id.
    #[sync(id)]
    pub id: String,
    /// The account: the partition column.
    #[sync(index)]
    pub account_id: String,
    /// The text.
    pub text: String,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// `Account`, `Payment` (stream `payments_by_account`), `Grant` and `Note` (stream
/// `notes_by_account`, keyed by the principal's grants).
pub fn restricted() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<Payment>()
        .entity::<Grant>()
        .entity::<Note>()
        .build()
        .unwrap()
}
