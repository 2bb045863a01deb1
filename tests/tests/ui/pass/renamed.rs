use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;

#[derive(Debug, PartialEq, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(
    entity = "Category",
    collection = "categories",
    table = "budget_categories"
)]
pub struct BudgetCategory {
    #[sync(id, column = "category_id")]
    pub id: String,
    #[sync(column = "title")]
    #[sync(index)]
    pub name: String,
    pub parent_id: Option<String>,
    #[sync(updated_at, column = "modified")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize, Syncable)]
#[sync(table = "ledger")]
pub struct Entry {
    #[sync(id)]
    pub id: i64,
    #[serde(rename(serialize = "version", deserialize = "ver"))]
    #[sync(updated_at)]
    pub updated_at: DateTime<Utc>,
}

fn main() {
    assert_eq!(BudgetCategory::ENTITY, "Category");
    assert_eq!(BudgetCategory::COLLECTION, "categories");
    assert_eq!(BudgetCategory::TABLE, "budget_categories");
    assert_eq!(BudgetCategory::UPDATED_AT_KEY, "updatedAt");
    let names: Vec<_> = BudgetCategory::COLUMNS
        .iter()
        .map(|c| (c.name, c.field, c.indexed))
        .collect();
    assert_eq!(
        names,
        [
            ("category_id", "id", false),
            ("title", "name", true),
            ("parent_id", "parent_id", false),
            ("modified", "updated_at", false),
        ]
    );
    let category = BudgetCategory {
        id: "c".into(),
        name: "Food".into(),
        parent_id: None,
        updated_at: None,
    };
    assert_eq!(
        BudgetCategory::from_row(category.to_row()).unwrap(),
        category
    );

    // Only one of table and collection given: the other follows it.
    assert_eq!(Entry::TABLE, "ledger");
    assert_eq!(Entry::COLLECTION, "ledger");
    assert_eq!(Entry::UPDATED_AT_KEY, "ver");
    assert_eq!(Entry::ENTITY, "Entry");
}
