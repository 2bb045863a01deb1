//! The FinWise entities through the real sync store: raw FinWise JSON in, canonical JSON out.

use serde_json::{Value, json};
use sync_core::TenantId;
use sync_core::change::{Change, Operation, new_change_id};
use sync_core::outcome::Outcome;
use sync_core::store::Store;
use sync_core::store::sqlite::SqliteStore;

fn change(entity_type: &str, payload: Value) -> Change {
    Change {
        id: new_change_id(),
        entity_type: entity_type.to_owned(),
        entity_id: payload["id"].as_str().unwrap().to_owned(),
        operation: Operation::Create,
        payload: Some(payload),
    }
}

fn finwise_payloads() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Account",
            json!({"id": "acc-1", "name": "Giro", "accountType": "GIRO", "isActive": true,
            "isOfflineBudget": false, "accountGroupId": "grp-1", "balance": 10.5, "offset": 0,
            "image": "data:…", "logo_path": "logos/a.png"}),
        ),
        (
            "AccountGroup",
            json!({"id": "grp-1", "name": "Konten", "sortOrder": 0}),
        ),
        (
            "Category",
            json!({"id": "cat-1", "name": "Essen", "budgeted": 0, "activity": 0, "available": 0,
            "isIncomeCategory": false, "isHidden": false, "isActive": true, "sortOrder": 0}),
        ),
        (
            "CategoryGroup",
            json!({"id": "cg-1", "name": "Fix", "sortOrder": 0, "isIncomeGroup": false}),
        ),
        (
            "Recipient",
            json!({"id": "rec-1", "name": "Bäcker", "createdAt": "2025-01-01T00:00:00Z"}),
        ),
        (
            "Tag",
            json!({"id": "tag-1", "name": "Urlaub", "color": "#f80"}),
        ),
        (
            "AutomationRule",
            json!({"id": "rule-1", "name": "Miete", "stage": "PRE", "priority": 1,
            "isActive": true, "conditions": [{"type": "X"}]}),
        ),
        (
            "PlanningTransaction",
            json!({"id": "plan-1", "name": "Miete", "accountId": "acc-1",
            "recipient_id": "rec-1", "amount": -900, "amountType": "EXACT", "startDate": "2025-01-01",
            "recurrencePattern": "MONTHLY", "recurrenceEndType": "NEVER", "weekendHandling": "NONE",
            "isActive": true, "forecastOnly": false}),
        ),
        (
            "Transaction",
            json!({"id": "tx-1", "accountId": "acc-1", "date": "2025-03-01",
            "valueDate": "2025-03-01", "amount": -3.2, "type": "EXPENSE", "runningBalance": 7.3,
            "recipient_id": "rec-1", "tagIds": ["tag-1"]}),
        ),
        (
            "AccountGrant",
            json!({"id": "u-1/grp-1/acc-1", "userId": "u-1", "accountGroupId": "grp-1",
            "accountId": "acc-1"}),
        ),
    ]
}

#[tokio::test]
async fn every_entity_is_stored_and_loaded_in_canonical_form() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path(), finwise::entities::registry())
        .open()
        .await
        .unwrap();
    let tenant = TenantId::new("household").unwrap();
    let changes: Vec<_> = finwise_payloads()
        .into_iter()
        .map(|(kind, payload)| change(kind, payload))
        .collect();
    let batch = store.apply(&tenant, &changes).await.unwrap();
    for (outcome, change) in batch.outcomes.iter().zip(&changes) {
        assert!(
            matches!(outcome, Outcome::Applied { .. }),
            "{}: {outcome:?}",
            change.entity_type
        );
    }

    let snapshot = store.snapshot(&tenant).await.unwrap();
    assert_eq!(snapshot.collections.len(), 10);
    for (collection, rows) in &snapshot.collections {
        assert_eq!(rows.len(), 1, "{collection}");
        assert!(
            rows[0]["updated_at"].is_string(),
            "{collection}: the stored version is always present"
        );
    }
    let account = &snapshot.collections["accounts"][0];
    assert_eq!(account["accountType"], "giro");
    assert_eq!(account["sortOrder"], 0);
    assert_eq!(account["logo_path"], "logos/a.png");
    assert!(account.get("image").is_none());
    let rule = &snapshot.collections["automation_rules"][0];
    assert_eq!(rule["conditionLogic"], "all");
    assert_eq!(rule["actions"], json!([]));
    for collection in ["planning_transactions", "transactions"] {
        let row = &snapshot.collections[collection][0];
        assert_eq!(row["recipientId"], "rec-1", "{collection}");
        assert!(row.get("recipient_id").is_none(), "{collection}");
    }
    assert_eq!(
        snapshot.collections["planning_transactions"][0]["autoExecute"],
        false
    );
    assert_eq!(snapshot.collections["transactions"][0]["type"], "EXPENSE");
    assert_eq!(
        snapshot.collections["categories"][0]["isSavingsGoal"],
        false
    );
}

#[tokio::test]
async fn a_bad_enum_value_is_a_validation_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path(), finwise::entities::registry())
        .open()
        .await
        .unwrap();
    let tenant = TenantId::new("household").unwrap();
    let bad = change(
        "Transaction",
        json!({"id": "tx-1", "accountId": "a", "date": "2025-03-01", "valueDate": "2025-03-01",
            "amount": 1, "type": "GIFT", "runningBalance": 1}),
    );
    let batch = store.apply(&tenant, &[bad]).await.unwrap();
    let Outcome::Rejected(rejection) = &batch.outcomes[0] else {
        panic!("accepted a bad enum: {:?}", batch.outcomes[0]);
    };
    let text = format!("{rejection:?}");
    assert!(text.contains("unknown variant `GIFT`"), "{text}");
}
