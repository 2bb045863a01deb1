use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

fn posted(row: &Payment) -> bool {
    !row.draft
}

#[derive(Serialize, Deserialize, Syncable)]
pub struct Grant {
    #[sync(id)]
    pub id: String,
    #[sync(index)]
    pub user_id: String,
    #[sync(index)]
    pub account_id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, Syncable)]
#[sync(stream(name = "by_account", by = account_id, filter = posted, role = "viewer"))]
#[sync(stream(name = "mine", by = account_id, keys = both, via = Grant.account_id, member = user_id))]
#[sync(stream(name = "granted", by = account_id, keys = principal, via = Grant.account_id, member = user_id, whole = ["owner", "editor"]))]
pub struct Payment {
    #[sync(id)]
    pub id: String,
    #[sync(index)]
    pub account_id: String,
    pub draft: bool,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {
    assert_eq!(Payment::STREAMS.len(), 3);
    assert!(Payment::STREAMS[1].whole.is_empty());
    assert_eq!(Payment::STREAMS[2].whole, ["owner", "editor"]);
    assert_eq!(Payment::STREAMS[1].via.unwrap().member_column, "user_id");
}
