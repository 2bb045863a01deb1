use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::entity::{Role, SqlType, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
pub struct AccountGroup {
    #[sync(id)]
    pub id: String,
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn main() {
    assert_eq!(AccountGroup::ENTITY, "AccountGroup");
    assert_eq!(AccountGroup::TABLE, "account_groups");
    assert_eq!(AccountGroup::COLLECTION, "account_groups");
    assert_eq!(AccountGroup::UPDATED_AT_KEY, "updated_at");

    let columns: Vec<_> = AccountGroup::COLUMNS
        .iter()
        .map(|c| (c.name, c.sql_type, c.nullable, c.role))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", SqlType::Text, false, Role::Id),
            ("updated_at", SqlType::Timestamp, true, Role::UpdatedAt),
        ]
    );

    let mut group = AccountGroup {
        id: "g1".into(),
        updated_at: None,
    };
    assert_eq!(group.id(), "g1");
    assert_eq!(group.updated_at(), None);
    let at = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    group.set_updated_at(at);
    assert_eq!(group.updated_at(), Some(at));

    let row = group.to_row();
    assert_eq!(row, [Value::Text("g1".into()), Value::Timestamp(at)]);
    assert_eq!(AccountGroup::from_row(row).unwrap(), group);
}
