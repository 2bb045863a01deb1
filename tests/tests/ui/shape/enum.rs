use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
pub enum Account {
    Checking {
        id: String,
        updated_at: Option<DateTime<Utc>>,
    },
    Savings {
        id: String,
        updated_at: Option<DateTime<Utc>>,
    },
}

fn main() {}
