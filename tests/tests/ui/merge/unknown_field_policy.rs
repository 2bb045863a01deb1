use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
#[sync(merge = "field")]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(merge = "min")]
    pub low: i64,
    #[sync(merge = "counter")]
    pub visits: i64,
    #[sync(merge = "field")]
    pub name: String,
    #[sync(merge)]
    pub note: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
