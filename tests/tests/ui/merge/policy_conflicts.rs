use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
#[sync(merge = "field")]
pub struct Account {
    #[sync(id, merge = "max")]
    pub id: String,
    #[sync(json, merge = "max")]
    pub tags: Vec<String>,
    #[sync(skip, merge = "lww")]
    pub cached: u32,
    #[serde(rename = "_fieldVersions")]
    pub versions: String,
    #[sync(updated_at, merge = "lww")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
