use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
#[sync(
    entity = "Account",
    entity = "Konto",
    tabel = "accounts",
    collection = "_sync"
)]
pub struct Account {
    #[sync(primary)]
    pub id: String,
    #[sync(skip, json)]
    pub cache: Vec<String>,
    #[sync(column = 7)]
    pub name: String,
    #[sync(column = "name")]
    pub title: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
    #[sync(updated_at)]
    pub modified_at: Option<DateTime<Utc>>,
}

fn main() {}
