use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::entity::{Payload as _, Schema};
use sync_core::{SyncSchema, Syncable};

mod entities {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    pub struct Account {
        #[sync(id)]
        pub id: String,
        #[sync(updated_at)]
        pub updated_at: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
    #[sync(entity = "Group")]
    pub struct AccountGroup {
        #[sync(id)]
        pub id: i64,
        #[sync(updated_at)]
        pub updated_at: DateTime<Utc>,
    }
}

// Paths, raw identifiers and no imports of the generated code's names.
#[derive(Debug, Clone, PartialEq, SyncSchema)]
pub enum r#Payload {
    r#Account(entities::Account),
    Group(crate::entities::AccountGroup),
}

fn main() {
    assert_eq!(Payload::ENTITIES, ["Account", "Group"]);
    assert_eq!(Payload::registry().unwrap().len(), 2);
    let account = Payload::from(entities::Account { id: "a".into(), updated_at: None });
    assert_eq!(account.entity_type(), "Account");
}
