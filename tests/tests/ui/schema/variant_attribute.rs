use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::{SyncSchema, Syncable};

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(SyncSchema)]
pub enum Payload {
    #[sync(entity = "Account")]
    Account(Account),
}

fn main() {}
