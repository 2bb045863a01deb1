//! `Transaction`: one booking on an account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AccountGrant;

/// A FinWise transaction (`transactions`). A client may keep only some accounts'
/// transactions by subscribing to the stream `transactions_by_account` with their ids
/// (`finwise-cli sync --accounts A,B`); the FinWise frontend, which subscribes to nothing,
/// gets them all as before. A `member` gets only those of its account groups' accounts,
/// and only through the stream ([`AccountGrant`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Transaction", table = "transactions")]
#[sync(stream(name = "transactions_by_account", by = account_id, keys = both, via = AccountGrant.account_id, member = user_id, whole = ["owner", "editor", "viewer"]))]
pub struct Transaction {
    /// The transaction's id.
    #[sync(id)]
    pub id: String,
    /// The account it is booked on: the stream's partition.
    #[sync(index)]
    pub account_id: String,
    /// The category it is booked to.
    #[serde(default)]
    pub category_id: Option<String>,
    /// The booking date, as the ISO date string FinWise sends.
    ///
    /// Dates are kept as strings rather than `chrono::NaiveDate`: the FinWise frontend
    /// sends `YYYY-MM-DD`, but older data holds full ISO timestamps, and the server must
    /// store and return exactly what the frontend wrote so its replica compares equal.
    pub date: String,
    /// The value date, as an ISO date string (see [`date`](Self::date)).
    pub value_date: String,
    /// The amount: negative for expenses.
    pub amount: f64,
    /// What the booking was for.
    #[serde(default)]
    pub description: Option<String>,
    /// A private note.
    #[serde(default)]
    pub note: Option<String>,
    /// Tag ids; `[]` when absent.
    #[serde(default)]
    #[sync(json)]
    pub tag_ids: Vec<String>,
    /// The kind of booking.
    #[sync(json)]
    pub r#type: TransactionType,
    /// The account's balance after this booking.
    pub running_balance: f64,
    /// The other half of a transfer.
    #[serde(default)]
    pub counter_transaction_id: Option<String>,
    /// The plan this booking executed.
    #[serde(default)]
    pub planning_transaction_id: Option<String>,
    /// Whether the booking is a reconciliation.
    #[serde(default)]
    pub is_reconciliation: Option<bool>,
    /// Whether the booking moves money between categories.
    #[serde(default)]
    pub is_category_transfer: Option<bool>,
    /// The target account of a transfer.
    #[serde(default)]
    pub transfer_to_account_id: Option<String>,
    /// Whether the booking has been reconciled.
    #[serde(default)]
    pub reconciled: Option<bool>,
    /// The target category of a category transfer.
    #[serde(default)]
    pub to_category_id: Option<String>,
    /// The payee as free text.
    #[serde(default)]
    pub payee: Option<String>,
    /// The recipient. Also read from `recipient_id`; always written as `recipientId`.
    #[serde(default, alias = "recipient_id")]
    pub recipient_id: Option<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The kind of a [`Transaction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TransactionType {
    /// Money out.
    Expense,
    /// Money in.
    Income,
    /// Between two accounts.
    AccountTransfer,
    /// Between two categories.
    CategoryTransfer,
    /// A balance correction.
    Reconcile,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn finwise_transaction() -> Value {
        json!({
            "id": "tx-1",
            "accountId": "acc-1",
            "categoryId": "cat-food",
            "date": "2025-03-01",
            "valueDate": "2025-03-02",
            "amount": -42.5,
            "description": "Wocheneinkauf",
            "note": null,
            "tagIds": ["tag-1"],
            "type": "EXPENSE",
            "runningBalance": 1192.06,
            "counterTransactionId": null,
            "planningTransactionId": null,
            "isReconciliation": false,
            "isCategoryTransfer": false,
            "transferToAccountId": null,
            "reconciled": false,
            "toCategoryId": null,
            "payee": "Supermarkt",
            "recipientId": "rec-1",
            "createdAt": "2025-03-01T09:59:00Z",
            "updated_at": "2025-03-01T10:00:00Z"
        })
    }

    #[test]
    fn decodes_a_finwise_payload() {
        let transaction: Transaction = serde_json::from_value(finwise_transaction()).unwrap();
        assert_eq!(transaction.r#type, TransactionType::Expense);
        assert_eq!(transaction.date, "2025-03-01");
        assert_eq!(transaction.recipient_id.as_deref(), Some("rec-1"));
        let out = serde_json::to_value(&transaction).unwrap();
        assert_eq!(out["type"], "EXPENSE");
        assert_eq!(out["valueDate"], "2025-03-02");
        assert!(out.get("createdAt").is_none());
    }

    #[test]
    fn defaults_apply() {
        let mut payload = finwise_transaction();
        let object = payload.as_object_mut().unwrap();
        for key in [
            "tagIds",
            "categoryId",
            "isReconciliation",
            "reconciled",
            "payee",
            "recipientId",
        ] {
            object.remove(key);
        }
        let transaction: Transaction = serde_json::from_value(payload).unwrap();
        assert!(transaction.tag_ids.is_empty());
        assert_eq!(transaction.is_reconciliation, None);
        assert_eq!(transaction.recipient_id, None);
    }

    #[test]
    fn recipient_id_alias_is_read_and_written_as_recipient_id() {
        let mut payload = finwise_transaction();
        let object = payload.as_object_mut().unwrap();
        object.remove("recipientId");
        object.insert("recipient_id".into(), json!("rec-snake"));
        let transaction: Transaction = serde_json::from_value(payload).unwrap();
        assert_eq!(transaction.recipient_id.as_deref(), Some("rec-snake"));
        let out = serde_json::to_value(&transaction).unwrap();
        assert_eq!(out["recipientId"], "rec-snake");
        assert!(out.get("recipient_id").is_none());
    }

    #[test]
    fn every_type_round_trips_and_unknown_types_are_refused() {
        for name in [
            "EXPENSE",
            "INCOME",
            "ACCOUNTTRANSFER",
            "CATEGORYTRANSFER",
            "RECONCILE",
        ] {
            let mut payload = finwise_transaction();
            payload["type"] = json!(name);
            let transaction: Transaction = serde_json::from_value(payload).unwrap();
            assert_eq!(serde_json::to_value(&transaction).unwrap()["type"], name);
        }
        let mut payload = finwise_transaction();
        payload["type"] = json!("REFUND");
        let error = serde_json::from_value::<Transaction>(payload)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown variant `REFUND`"), "{error}");
    }
}
