//! The generated schema, for both dialects, as reviewers see it in diffs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sync_core::Syncable;
use sync_core::store::ddl::{Dialect, create_table};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Transaction")]
pub(crate) struct Transaction {
    #[sync(id)]
    pub(crate) id: Uuid,
    #[sync(index)]
    pub(crate) account_id: String,
    pub(crate) date: NaiveDate,
    pub(crate) amount: f64,
    pub(crate) note: Option<String>,
    #[serde(default)]
    #[sync(json)]
    pub(crate) tag_ids: Vec<String>,
    #[serde(default)]
    #[sync(default)]
    pub(crate) reconciled: bool,
    #[sync(column = "kind")]
    pub r#type: String,
    #[sync(updated_at)]
    pub(crate) updated_at: DateTime<Utc>,
}

fn ddl(dialect: Dialect) -> String {
    create_table(dialect, Transaction::TABLE, Transaction::COLUMNS).join(";\n\n") + ";\n"
}

#[test]
fn sqlite_schema() {
    insta::assert_snapshot!(ddl(Dialect::Sqlite));
}

#[test]
fn postgres_schema() {
    insta::assert_snapshot!(ddl(Dialect::Postgres));
}

/// A field-merged entity: its table has the hidden field versions column too.
fn field_merged_ddl(dialect: Dialect) -> String {
    use sync_core::Registry;
    use sync_testkit::entities::Contact;
    let registry = Registry::builder().entity::<Contact>().build().unwrap();
    let handler = registry.get("Contact").unwrap();
    create_table(dialect, handler.table(), handler.columns()).join(";\n\n") + ";\n"
}

#[test]
fn sqlite_field_merged_schema() {
    insta::assert_snapshot!(field_merged_ddl(Dialect::Sqlite));
}

#[test]
fn postgres_field_merged_schema() {
    insta::assert_snapshot!(field_merged_ddl(Dialect::Postgres));
}
