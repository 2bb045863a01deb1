use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Debug, PartialEq, Serialize, Deserialize, Syncable)]
pub struct Transaction {
    #[sync(id)]
    pub r#id: String,
    #[sync(index)]
    pub r#type: String,
    #[sync(json, default)]
    pub r#match: Vec<String>,
    #[sync(skip)]
    pub r#ref: u32,
    #[sync(updated_at)]
    pub r#updated_at: Option<DateTime<Utc>>,
}

fn main() {
    let names: Vec<_> = Transaction::COLUMNS
        .iter()
        .map(|c| (c.name, c.field))
        .collect();
    assert_eq!(
        names,
        [
            ("id", "id"),
            ("type", "type"),
            ("match", "match"),
            ("updated_at", "updated_at")
        ]
    );
    let transaction = Transaction {
        id: "t".into(),
        r#type: "expense".into(),
        r#match: vec!["x".into()],
        r#ref: 0,
        updated_at: None,
    };
    assert_eq!(
        Transaction::from_row(transaction.to_row()).unwrap(),
        transaction
    );
}
