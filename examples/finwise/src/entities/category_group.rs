//! `CategoryGroup`: a heading that budget categories are listed under.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A FinWise category group (`category_groups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "CategoryGroup", table = "category_groups")]
pub struct CategoryGroup {
    /// The group's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Position among the groups.
    pub sort_order: i32,
    /// Whether the group holds income categories.
    pub is_income_group: bool,
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
        let group: CategoryGroup = serde_json::from_value(json!({
            "id": "9a1d7c2e-0000-4000-8000-000000000010",
            "name": "Fixkosten",
            "sortOrder": 3,
            "isIncomeGroup": false,
            "updated_at": "2025-03-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(group.name, "Fixkosten");
        assert!(!group.is_income_group);
        assert_eq!(
            serde_json::to_value(&group).unwrap()["isIncomeGroup"],
            false
        );
    }

    #[test]
    fn is_income_group_is_required() {
        let error = serde_json::from_value::<CategoryGroup>(
            json!({"id": "g", "name": "x", "sortOrder": 0}),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("missing field `isIncomeGroup`"), "{error}");
    }
}
