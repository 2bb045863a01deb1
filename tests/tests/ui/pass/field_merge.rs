use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::merge::{FIELD_VERSIONS_COLUMN, Merge, Policy};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(merge = "field")]
pub struct Profile {
    #[sync(id)]
    pub id: String,
    pub display_name: String,
    #[sync(skip)]
    pub cached: u32,
    #[sync(merge = "max")]
    pub high_score: i64,
    #[sync(json, merge = "lww")]
    pub tags: Vec<String>,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(merge = "row")]
pub struct Plain {
    #[sync(id)]
    pub id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {
    let Merge::Field(fields) = Profile::MERGE else {
        panic!("Profile merges per field");
    };
    let policies: Vec<_> = fields
        .fields
        .iter()
        .map(|field| (field.key, field.column, field.policy))
        .collect();
    assert_eq!(
        policies,
        [
            ("displayName", 1, Policy::Lww),
            ("highScore", 2, Policy::Max),
            ("tags", 3, Policy::Lww),
        ]
    );
    assert_eq!(fields.columns.len(), Profile::COLUMNS.len() + 1);
    assert_eq!(fields.columns.last().unwrap().name, FIELD_VERSIONS_COLUMN);
    assert!(matches!(Plain::MERGE, Merge::Row));
}
