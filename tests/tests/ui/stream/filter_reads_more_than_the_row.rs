use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

/// A filter that wants more than the row: the caller's account as well.
fn visible_to(row: &Payment, account: &str) -> bool {
    row.account_id == account
}

#[derive(Serialize, Deserialize, Syncable)]
#[sync(stream(name = "by_account", by = account_id, filter = visible_to))]
pub struct Payment {
    #[sync(id)]
    pub id: String,
    #[sync(index)]
    pub account_id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {}
