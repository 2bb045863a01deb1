use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::entity::Value;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    pub hits: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Syncable)]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(default)]
    pub balance: f64,
    #[sync(default)]
    pub note: Option<String>,
    #[sync(json, default)]
    pub tags: Vec<String>,
    #[sync(skip)]
    #[serde(skip)]
    pub cache: Cache,
    #[sync(skip)]
    pub hidden: bool,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {
    let defaults: Vec<_> = Account::COLUMNS
        .iter()
        .map(|c| (c.name, c.default.map(|f| f())))
        .collect();
    assert_eq!(
        defaults,
        [
            ("id", None),
            ("balance", Some(Value::Real(0.0))),
            ("note", Some(Value::Null)),
            ("tags", Some(Value::Json(serde_json::json!([])))),
            ("updated_at", None),
        ]
    );
    let account = Account {
        id: "a".into(),
        balance: 12.5,
        note: None,
        tags: vec![],
        cache: Cache { hits: 9 },
        hidden: true,
        updated_at: None,
    };
    let row = account.to_row();
    assert_eq!(row.len(), 5);
    let decoded = Account::from_row(row).unwrap();
    assert_eq!(decoded.cache, Cache::default());
    assert!(!decoded.hidden);
    assert_eq!(decoded.balance, 12.5);
}
