use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
#[sync(merge = "fields")]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, Syncable)]
#[sync(merge = "max")]
pub struct Score {
    #[sync(id)]
    pub id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
