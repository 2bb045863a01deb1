use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize)]
pub enum Kind {
    Checking,
    Savings,
}

#[derive(Serialize, Deserialize, Syncable)]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(json, default)]
    pub kind: Kind,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
