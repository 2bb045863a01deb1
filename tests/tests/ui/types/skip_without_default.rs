use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

pub struct Connection;

#[derive(Serialize, Deserialize, Syncable)]
pub struct Account {
    #[sync(id)]
    pub id: String,
    #[sync(skip)]
    #[serde(skip, default = "connect")]
    pub connection: Connection,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn connect() -> Connection {
    Connection
}

fn main() {}
