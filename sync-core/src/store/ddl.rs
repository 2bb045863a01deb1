//! The SQL schema of an entity, rendered from the metadata `#[derive(Syncable)]` generates.
//!
//! One renderer per dialect, shared by table creation and schema evolution, so the two can
//! never disagree.
//!
//! ```
//! use sync_core::entity::{Column, Role, SqlType};
//! use sync_core::store::ddl::{create_table, Dialect};
//!
//! const COLUMNS: &[Column] = &[
//!     Column { name: "id", field: "id", sql_type: SqlType::Text, nullable: false,
//!              role: Role::Id, indexed: false, default: None },
//!     Column { name: "updated_at", field: "updated_at", sql_type: SqlType::Timestamp,
//!              nullable: true, role: Role::UpdatedAt, indexed: false, default: None },
//! ];
//! let sql = create_table(Dialect::Sqlite, "notes", COLUMNS);
//! assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS \"notes\""));
//! ```
//!
//! Every table has the hidden columns `_sync_deleted` (a tombstone flag: the row stays,
//! hidden from reads, so an older change cannot resurrect it) and `_sync_seq` (the tenant
//! sequence number of the row's last change, indexed, which the change feed pages by).
//! PostgreSQL tables also have `_sync_tenant`, because there all tenants share one table.
//!
//! Data columns are nullable in SQL even when the field is required: a tombstone of an
//! entity the server never saw holds only its id and version. Required-ness is enforced by
//! the entity type on every write, and checked against the stored rows when a field becomes
//! required.

use std::fmt::Write as _;

use crate::entity::{Column, Role, Value};

/// The tombstone flag column.
pub const DELETED: &str = "_sync_deleted";
/// The per-tenant sequence number column.
pub const SEQ: &str = "_sync_seq";
/// The tenant column of shared (PostgreSQL) tables.
pub const TENANT: &str = "_sync_tenant";

/// A SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: one database per tenant.
    Sqlite,
    /// PostgreSQL: all tenants in shared tables keyed by `(_sync_tenant, id)`.
    Postgres,
}

/// The statements that create `table` with its hidden columns and indexes.
pub fn create_table(dialect: Dialect, table: &str, columns: &[Column]) -> Vec<String> {
    let mut definitions = Vec::new();
    if dialect == Dialect::Postgres {
        definitions.push(format!("\"{TENANT}\" TEXT NOT NULL"));
    }
    definitions.extend(
        columns
            .iter()
            .map(|column| column_definition(dialect, column)),
    );
    match dialect {
        Dialect::Sqlite => {
            definitions.push(format!("\"{DELETED}\" INTEGER NOT NULL DEFAULT 0"));
            definitions.push(format!("\"{SEQ}\" INTEGER NOT NULL"));
        }
        Dialect::Postgres => {
            definitions.push(format!("\"{DELETED}\" BOOLEAN NOT NULL DEFAULT FALSE"));
            definitions.push(format!("\"{SEQ}\" BIGINT NOT NULL"));
            let id = id_column(columns).map_or("id", |column| column.name);
            definitions.push(format!("PRIMARY KEY (\"{TENANT}\", \"{id}\")"));
        }
    }
    let mut create = format!("CREATE TABLE IF NOT EXISTS \"{table}\" (\n");
    for (index, definition) in definitions.iter().enumerate() {
        let separator = if index + 1 < definitions.len() {
            ","
        } else {
            ""
        };
        let _ = writeln!(create, "    {definition}{separator}");
    }
    create.push(')');

    let mut statements = vec![create, create_index(dialect, table, SEQ)];
    statements.extend(
        columns
            .iter()
            .filter(|column| column.indexed)
            .map(|column| create_index(dialect, table, column.name)),
    );
    statements
}

/// The statement that adds `column` to an existing `table`; existing rows get its default.
pub fn add_column(dialect: Dialect, table: &str, column: &Column) -> String {
    format!(
        "ALTER TABLE \"{table}\" ADD COLUMN {}",
        column_definition(dialect, column)
    )
}

/// The statement that creates the index on `column`, scoped by tenant on PostgreSQL.
pub fn create_index(dialect: Dialect, table: &str, column: &str) -> String {
    let name = format!("{table}_{column}_idx");
    match dialect {
        Dialect::Sqlite => {
            format!("CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" (\"{column}\")")
        }
        Dialect::Postgres => format!(
            "CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" (\"{TENANT}\", \"{column}\")"
        ),
    }
}

/// The statement that creates the index a stream's catch-up scans: (key, seq) of its
/// partition column, scoped by tenant on PostgreSQL.
pub fn create_bucket_index(dialect: Dialect, table: &str, column: &str) -> String {
    let name = format!("{table}_{column}_bucket_idx");
    match dialect {
        Dialect::Sqlite => format!(
            "CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" (\"{column}\", \"{SEQ}\")"
        ),
        Dialect::Postgres => format!(
            "CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" (\"{TENANT}\", \"{column}\", \"{SEQ}\")"
        ),
    }
}

fn id_column(columns: &[Column]) -> Option<&Column> {
    columns.iter().find(|column| column.role == Role::Id)
}

fn column_definition(dialect: Dialect, column: &Column) -> String {
    let sql_type = match dialect {
        Dialect::Sqlite => column.sql_type.sqlite(),
        Dialect::Postgres => column.sql_type.postgres(),
    };
    let mut definition = format!("\"{}\" {sql_type}", column.name);
    match column.role {
        Role::Id if dialect == Dialect::Sqlite => definition.push_str(" NOT NULL PRIMARY KEY"),
        Role::Id | Role::UpdatedAt => definition.push_str(" NOT NULL"),
        Role::Data => {}
    }
    if let Some(default) = column.default {
        let _ = write!(definition, " DEFAULT {}", literal(dialect, &default()));
    }
    definition
}

/// A SQL literal for a column default. Quoted literals are untyped in both dialects, so
/// PostgreSQL coerces them to the column's type (UUID, JSONB, DATE, ...).
fn literal(dialect: Dialect, value: &Value) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Bool(flag) if dialect == Dialect::Sqlite => u8::from(*flag).to_string(),
        Value::Bool(flag) => flag.to_string().to_uppercase(),
        Value::Int(number) => number.to_string(),
        Value::Real(number) if number.is_finite() => format!("{number:?}"),
        Value::Real(_) => "NULL".to_owned(),
        Value::Text(text) => quote(text),
        Value::Uuid(uuid) => quote(&uuid.hyphenated().to_string()),
        Value::Timestamp(at) => quote(&at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        Value::Date(date) => quote(&date.format("%Y-%m-%d").to_string()),
        Value::Json(json) => quote(&json.to_string()),
    }
}

/// The bookkeeping tables of a SQLite tenant database.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_META: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS \"_sync_meta\" (\
        \"key\" TEXT NOT NULL PRIMARY KEY, \
        \"value\" INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS \"_sync_changes\" (\
        \"change_id\" TEXT NOT NULL PRIMARY KEY, \
        \"kind\" TEXT NOT NULL, \
        \"version\" TEXT NOT NULL, \
        \"seq\" INTEGER NOT NULL, \
        \"processed_at\" TEXT NOT NULL)",
    // Rowids grow in processing order, so the purge finds its cut-off by rowid; the index
    // on `processed_at` that earlier versions created only slowed every write.
    "DROP INDEX IF EXISTS \"_sync_changes_processed_at_idx\"",
    "CREATE TABLE IF NOT EXISTS \"_sync_schema\" (\
        \"table_name\" TEXT NOT NULL, \
        \"column_name\" TEXT NOT NULL, \
        \"sql_type\" TEXT NOT NULL, \
        \"nullable\" INTEGER NOT NULL, \
        \"role\" TEXT NOT NULL, \
        PRIMARY KEY (\"table_name\", \"column_name\"))",
    // The moves feed of partial sync: a row left the bucket `old_key` of `stream` at `seq`
    // (moved, filtered out or deleted). Catch-up of a bucket scans (stream, old_key, seq).
    "CREATE TABLE IF NOT EXISTS \"_sync_moves\" (\
        \"stream\" TEXT NOT NULL, \
        \"old_key\" TEXT NOT NULL, \
        \"seq\" INTEGER NOT NULL, \
        \"entity_id\" TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS \"_sync_moves_bucket_idx\" \
        ON \"_sync_moves\" (\"stream\", \"old_key\", \"seq\")",
    // Other nodes route a range of commits by bucket, and the purge cuts by seq.
    "CREATE INDEX IF NOT EXISTS \"_sync_moves_seq_idx\" ON \"_sync_moves\" (\"seq\")",
];
