//! `AccountGroup`: a heading that accounts are listed under.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A FinWise account group (`account_groups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AccountGroup", table = "account_groups")]
pub struct AccountGroup {
    /// The group's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Position among the groups.
    pub sort_order: i32,
    /// Path of the group's logo; snake_case on the wire, as FinWise sends it.
    #[serde(default, rename = "logo_path")]
    pub logo_path: Option<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decodes_a_finwise_payload() {
        let group: AccountGroup = serde_json::from_value(json!({
            "id": "c0ffee00-0000-4000-8000-000000000001",
            "name": "Girokonten",
            "sortOrder": 0,
            "image": null,
            "logo_path": null,
            "updated_at": "2025-03-01T10:00:00+01:00"
        }))
        .unwrap();
        assert_eq!(group.name, "Girokonten");
        assert_eq!(group.logo_path, None);
        let out = serde_json::to_value(&group).unwrap();
        assert_eq!(out["sortOrder"], 0);
        assert!(out.as_object().unwrap().contains_key("logo_path"));
    }

    #[test]
    fn logo_path_is_optional() {
        let group: AccountGroup =
            serde_json::from_value(json!({"id": "g", "name": "Spar", "sortOrder": 1})).unwrap();
        assert_eq!(group.logo_path, None);
        assert_eq!(group.updated_at, None);
    }
}
