use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
#[sync(stream(name = "by_account", by = account_id, whole = ["owner"]))]
pub struct Payment {
    #[sync(id)]
    pub id: String,
    #[sync(index)]
    pub account_id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
