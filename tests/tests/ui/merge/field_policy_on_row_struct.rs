use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(merge = "max")]
    pub balance: f64,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
