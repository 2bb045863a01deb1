use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Serialize, Deserialize, Syncable)]
pub struct Account {
    #[sync(id)]
    pub id: Option<String>,
    pub tags: Vec<String>,
    #[sync(updated_at)]
    pub updated_at: String,
}

fn main() {}
