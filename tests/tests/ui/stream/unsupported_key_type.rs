use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
#[sync(stream(name = "by_amount", by = amount))]
pub struct Payment {
    #[sync(id)]
    pub id: String,
    #[sync(index)]
    pub amount: f64,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
