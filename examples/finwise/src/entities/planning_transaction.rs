//! `PlanningTransaction`: a planned, usually recurring, booking used for forecasts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AccountGrant;

/// A FinWise planned transaction (`planning_transactions`).
///
/// Dates stay ISO date strings, as on [`Transaction`](super::Transaction). Partitioned by
/// account like transactions (stream `planning_transactions_by_account`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "PlanningTransaction", table = "planning_transactions")]
#[sync(stream(name = "planning_transactions_by_account", by = account_id, keys = both, via = AccountGrant.account_id, member = user_id, whole = ["owner", "editor", "viewer"]))]
pub struct PlanningTransaction {
    /// The plan's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// The account it books to: the stream's partition.
    #[sync(index)]
    pub account_id: String,
    /// The category it books to.
    #[serde(default)]
    pub category_id: Option<String>,
    /// Tag ids; `[]` when absent.
    #[serde(default)]
    #[sync(json)]
    pub tag_ids: Vec<String>,
    /// The recipient. Also read from `recipient_id`; always written as `recipientId`.
    #[serde(default, alias = "recipient_id")]
    pub recipient_id: Option<String>,
    /// The amount.
    pub amount: f64,
    /// How exact the amount is.
    #[sync(json)]
    pub amount_type: AmountType,
    /// The expected amount when it is approximate.
    #[serde(default)]
    pub approximate_amount: Option<f64>,
    /// The lower bound when the amount is a range.
    #[serde(default)]
    pub min_amount: Option<f64>,
    /// The upper bound when the amount is a range.
    #[serde(default)]
    pub max_amount: Option<f64>,
    /// A private note.
    #[serde(default)]
    pub note: Option<String>,
    /// The first date, ISO `YYYY-MM-DD`.
    pub start_date: String,
    /// The value date, ISO `YYYY-MM-DD`.
    #[serde(default)]
    pub value_date: Option<String>,
    /// The last date, when the recurrence ends on a date.
    #[serde(default)]
    pub end_date: Option<String>,
    /// How often it recurs.
    #[sync(json)]
    pub recurrence_pattern: RecurrencePattern,
    /// How many times it recurs, when it ends after a count.
    #[serde(default)]
    pub recurrence_count: Option<i32>,
    /// How the recurrence ends.
    #[sync(json)]
    pub recurrence_end_type: RecurrenceEndType,
    /// The day of the month it is booked on.
    #[serde(default)]
    pub execution_day: Option<i32>,
    /// What happens when the date falls on a weekend.
    #[sync(json)]
    pub weekend_handling: WeekendHandling,
    /// The kind of transaction it books. Kept as text: PROTOCOL.md does not fix its
    /// values, so the server stores whatever the frontend sends.
    #[serde(default)]
    pub transaction_type: Option<String>,
    /// The plan on the other side of a transfer.
    #[serde(default)]
    pub counter_planning_transaction_id: Option<String>,
    /// The target account of a transfer.
    #[serde(default)]
    pub transfer_to_account_id: Option<String>,
    /// The target category of a category transfer.
    #[serde(default)]
    pub transfer_to_category_id: Option<String>,
    /// Whether the plan is in use.
    pub is_active: bool,
    /// Whether the plan only feeds forecasts and is never booked.
    pub forecast_only: bool,
    /// Whether due occurrences are booked automatically; false when absent.
    #[serde(default)]
    pub auto_execute: bool,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// How exact a [`PlanningTransaction`]'s amount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AmountType {
    /// Exactly `amount`.
    Exact,
    /// About `approximateAmount`.
    Approximate,
    /// Between `minAmount` and `maxAmount`.
    Range,
}

/// How often a [`PlanningTransaction`] recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecurrencePattern {
    /// Once.
    Once,
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
    /// Every other week.
    Biweekly,
    /// Every month.
    Monthly,
    /// Every three months.
    Quarterly,
    /// Every year.
    Yearly,
}

/// How a [`PlanningTransaction`]'s recurrence ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RecurrenceEndType {
    /// It never ends.
    Never,
    /// After `recurrenceCount` occurrences.
    Count,
    /// On `endDate`.
    Date,
}

/// What happens when a [`PlanningTransaction`] falls on a weekend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WeekendHandling {
    /// Nothing: it stays on the weekend.
    None,
    /// It moves to the Friday before.
    Before,
    /// It moves to the Monday after.
    After,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn finwise_plan() -> Value {
        json!({
            "id": "plan-1",
            "name": "Miete",
            "accountId": "acc-1",
            "categoryId": "cat-rent",
            "tagIds": ["tag-1", "tag-2"],
            "recipientId": "rec-landlord",
            "amount": -950,
            "amountType": "EXACT",
            "approximateAmount": null,
            "minAmount": null,
            "maxAmount": null,
            "note": "",
            "startDate": "2025-01-01",
            "valueDate": "2025-01-01",
            "endDate": null,
            "recurrencePattern": "MONTHLY",
            "recurrenceCount": null,
            "recurrenceEndType": "NEVER",
            "executionDay": 1,
            "weekendHandling": "AFTER",
            "transactionType": "EXPENSE",
            "counterPlanningTransactionId": null,
            "transferToAccountId": null,
            "transferToCategoryId": null,
            "isActive": true,
            "forecastOnly": false,
            "autoExecute": true,
            "updated_at": "2025-03-01T10:00:00Z"
        })
    }

    #[test]
    fn decodes_a_finwise_payload() {
        let plan: PlanningTransaction = serde_json::from_value(finwise_plan()).unwrap();
        assert_eq!(plan.recurrence_pattern, RecurrencePattern::Monthly);
        assert_eq!(plan.weekend_handling, WeekendHandling::After);
        assert_eq!(plan.tag_ids, ["tag-1", "tag-2"]);
        assert_eq!(plan.start_date, "2025-01-01");
        assert!(plan.auto_execute);
        let out = serde_json::to_value(&plan).unwrap();
        assert_eq!(out["amountType"], "EXACT");
        assert_eq!(out["recurrenceEndType"], "NEVER");
    }

    #[test]
    fn defaults_apply() {
        let mut payload = finwise_plan();
        let object = payload.as_object_mut().unwrap();
        for key in [
            "tagIds",
            "autoExecute",
            "recipientId",
            "valueDate",
            "transactionType",
        ] {
            object.remove(key);
        }
        let plan: PlanningTransaction = serde_json::from_value(payload).unwrap();
        assert!(plan.tag_ids.is_empty());
        assert!(!plan.auto_execute);
        assert_eq!(plan.recipient_id, None);
    }

    #[test]
    fn recipient_id_alias_is_read_and_written_as_recipient_id() {
        let mut payload = finwise_plan();
        let object = payload.as_object_mut().unwrap();
        object.remove("recipientId");
        object.insert("recipient_id".into(), json!("rec-snake"));
        let plan: PlanningTransaction = serde_json::from_value(payload).unwrap();
        assert_eq!(plan.recipient_id.as_deref(), Some("rec-snake"));
        let out = serde_json::to_value(&plan).unwrap();
        assert_eq!(out["recipientId"], "rec-snake");
        assert!(out.get("recipient_id").is_none());
    }

    #[test]
    fn every_enum_refuses_unknown_values() {
        for (field, bad) in [
            ("amountType", "ABOUT"),
            ("recurrencePattern", "HOURLY"),
            ("recurrenceEndType", "SOMETIMES"),
            ("weekendHandling", "SKIP"),
            ("recurrencePattern", "monthly"),
        ] {
            let mut payload = finwise_plan();
            payload[field] = json!(bad);
            let error = serde_json::from_value::<PlanningTransaction>(payload)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("unknown variant `{bad}`")),
                "{field}: {error}"
            );
        }
    }

    #[test]
    fn every_enum_value_round_trips() {
        let values: [(&str, &[&str]); 4] = [
            ("amountType", &["EXACT", "APPROXIMATE", "RANGE"]),
            (
                "recurrencePattern",
                &[
                    "ONCE",
                    "DAILY",
                    "WEEKLY",
                    "BIWEEKLY",
                    "MONTHLY",
                    "QUARTERLY",
                    "YEARLY",
                ],
            ),
            ("recurrenceEndType", &["NEVER", "COUNT", "DATE"]),
            ("weekendHandling", &["NONE", "BEFORE", "AFTER"]),
        ];
        for (field, names) in values {
            for name in names {
                let mut payload = finwise_plan();
                payload[field] = json!(name);
                let plan: PlanningTransaction = serde_json::from_value(payload).unwrap();
                assert_eq!(serde_json::to_value(&plan).unwrap()[field], json!(name));
            }
        }
    }
}
