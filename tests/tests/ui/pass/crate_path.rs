//! An app that reaches sync_core only through a re-export names that path with `crate`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod my {
    pub use ::sync_core;
}

#[derive(Serialize, Deserialize, my::sync_core::Syncable)]
#[sync(crate = "my::sync_core", entity = "Account")]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {
    use my::sync_core::Syncable;
    assert_eq!(Account::ENTITY, "Account");
    assert_eq!(Account::TABLE, "accounts");
    let account = Account {
        id: "a1".into(),
        updated_at: None,
    };
    assert_eq!(account.id(), "a1");
}
