//! `Category`: a budget category (envelope), possibly a savings goal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A FinWise budget category (`categories`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Category", table = "categories")]
pub struct Category {
    /// The category's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Icon name.
    #[serde(default)]
    pub icon: Option<String>,
    /// Amount budgeted.
    pub budgeted: f64,
    /// Amount spent or received.
    pub activity: f64,
    /// Amount left.
    pub available: f64,
    /// Whether income is booked to this category.
    pub is_income_category: bool,
    /// Whether the category is hidden in the budget view.
    pub is_hidden: bool,
    /// Whether the category is in use.
    pub is_active: bool,
    /// Position within its group.
    pub sort_order: i32,
    /// The group the category is listed under.
    #[serde(default)]
    pub category_group_id: Option<String>,
    /// The category this one is nested under.
    #[serde(default)]
    pub parent_category_id: Option<String>,
    /// Whether the category is a savings goal; false when absent.
    #[serde(default)]
    pub is_savings_goal: bool,
    /// The savings goal's date, as the ISO date string FinWise sends (see
    /// [`Transaction::date`](super::Transaction::date) for why it stays a string).
    #[serde(default)]
    pub goal_date: Option<String>,
    /// The savings goal's amount.
    #[serde(default)]
    pub target_amount: Option<f64>,
    /// Order in which the budget fills this category.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Share of distributed income this category receives.
    #[serde(default)]
    pub proportion: Option<f64>,
    /// Amount to budget every month.
    #[serde(default)]
    pub monthly_amount: Option<f64>,
    /// A private note.
    #[serde(default)]
    pub note: Option<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn finwise_category() -> serde_json::Value {
        json!({
            "id": "cat-0001",
            "name": "Lebensmittel",
            "icon": "mdi:cart",
            "budgeted": 400,
            "activity": -123.45,
            "available": 276.55,
            "isIncomeCategory": false,
            "isHidden": false,
            "isActive": true,
            "sortOrder": 4,
            "categoryGroupId": "group-1",
            "parentCategoryId": null,
            "isSavingsGoal": true,
            "goalDate": "2025-12-24",
            "targetAmount": 1000,
            "priority": 2,
            "proportion": 0.25,
            "monthlyAmount": 50,
            "note": "Wocheneinkauf",
            "updated_at": "2025-03-01T10:00:00.123Z"
        })
    }

    #[test]
    fn decodes_a_finwise_payload() {
        let category: Category = serde_json::from_value(finwise_category()).unwrap();
        assert_eq!(category.activity, -123.45);
        assert!(category.is_savings_goal);
        assert_eq!(category.goal_date.as_deref(), Some("2025-12-24"));
        assert_eq!(category.priority, Some(2));
        let out = serde_json::to_value(&category).unwrap();
        assert_eq!(out["goalDate"], "2025-12-24");
        assert_eq!(out["monthlyAmount"], 50.0);
    }

    #[test]
    fn defaults_apply() {
        let mut payload = finwise_category();
        let object = payload.as_object_mut().unwrap();
        for key in [
            "isSavingsGoal",
            "goalDate",
            "targetAmount",
            "priority",
            "proportion",
            "monthlyAmount",
            "icon",
        ] {
            object.remove(key);
        }
        let category: Category = serde_json::from_value(payload).unwrap();
        assert!(!category.is_savings_goal);
        assert_eq!(category.goal_date, None);
        assert_eq!(category.priority, None);
    }
}
