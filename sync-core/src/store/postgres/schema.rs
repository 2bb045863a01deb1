//! Creates and evolves the shared tables, in one transaction under an advisory lock, so
//! that several nodes starting at once prepare the schema one after the other, and a
//! refused change leaves the database as it was.

use sqlx::{Acquire, PgConnection};

use super::bind::quoted;
use crate::entity::{Column, Handler, Registry};
use crate::error::Result;
use crate::store::ddl::{self, DELETED, Dialect};
use crate::store::schema::{
    RecordedColumn, Step, null_values_refusal, plan, refusal, required_column_refusal, role_name,
};

/// The bookkeeping tables: each tenant's sequence numbers, the processed change ids, and
/// the record of the columns sync-core created.
const META: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS \"_sync_tenants\" (\
        \"tenant\" TEXT NOT NULL PRIMARY KEY, \
        \"seq\" BIGINT NOT NULL DEFAULT 0, \
        \"purged_seq\" BIGINT NOT NULL DEFAULT 0)",
    // The tombstone horizon (milliseconds, 0 while nothing was purged); added to tables
    // created before it.
    "ALTER TABLE \"_sync_tenants\" ADD COLUMN IF NOT EXISTS \"purged_at\" BIGINT NOT NULL DEFAULT 0",
    "CREATE TABLE IF NOT EXISTS \"_sync_changes\" (\
        \"tenant\" TEXT NOT NULL, \
        \"change_id\" TEXT NOT NULL, \
        \"kind\" TEXT NOT NULL, \
        \"version\" TIMESTAMPTZ(3) NOT NULL, \
        \"seq\" BIGINT NOT NULL, \
        \"processed_at\" TIMESTAMPTZ(3) NOT NULL, \
        PRIMARY KEY (\"tenant\", \"change_id\"))",
    "CREATE INDEX IF NOT EXISTS \"_sync_changes_processed_at_idx\" \
        ON \"_sync_changes\" (\"tenant\", \"processed_at\")",
    "CREATE TABLE IF NOT EXISTS \"_sync_schema\" (\
        \"table_name\" TEXT NOT NULL, \
        \"column_name\" TEXT NOT NULL, \
        \"sql_type\" TEXT NOT NULL, \
        \"nullable\" BOOLEAN NOT NULL, \
        \"role\" TEXT NOT NULL, \
        PRIMARY KEY (\"table_name\", \"column_name\"))",
    // The moves feed of partial sync (see the SQLite store's).
    "CREATE TABLE IF NOT EXISTS \"_sync_moves\" (\
        \"tenant\" TEXT NOT NULL, \
        \"stream\" TEXT NOT NULL, \
        \"old_key\" TEXT NOT NULL, \
        \"seq\" BIGINT NOT NULL, \
        \"entity_id\" TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS \"_sync_moves_bucket_idx\" \
        ON \"_sync_moves\" (\"tenant\", \"stream\", \"old_key\", \"seq\")",
    // Other nodes route a range of commits by bucket, and the purge cuts by seq.
    "CREATE INDEX IF NOT EXISTS \"_sync_moves_seq_idx\" ON \"_sync_moves\" (\"tenant\", \"seq\")",
];

/// Brings the sync tables in `schema` (or the connection's current schema) to the
/// registered entities.
pub(super) async fn prepare(
    connection: &mut PgConnection,
    schema: Option<&str>,
    registry: &Registry,
) -> Result<()> {
    let mut tx = connection.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!(
            "sync-core schema {}",
            schema.unwrap_or("(current)")
        ))
        .execute(&mut *tx)
        .await?;
    if let Some(schema) = schema {
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {}", quoted(schema)))
            .execute(&mut *tx)
            .await?;
    }
    for statement in META {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    for handler in registry.iter() {
        prepare_table(&mut tx, handler).await?;
        for stream in handler.streams() {
            sqlx::query(&ddl::create_bucket_index(
                Dialect::Postgres,
                handler.table(),
                stream.by,
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn prepare_table(tx: &mut PgConnection, handler: &dyn Handler) -> Result<()> {
    let table = handler.table();
    let recorded: Vec<RecordedColumn> = sqlx::query_as::<_, (String, String, bool, String)>(
        "SELECT \"column_name\", \"sql_type\", \"nullable\", \"role\" FROM \"_sync_schema\" WHERE \"table_name\" = $1",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(name, sql_type, nullable, role)| RecordedColumn { name, sql_type, nullable, role })
    .collect();

    if recorded.is_empty() {
        let exists: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM \"information_schema\".\"tables\" \
             WHERE \"table_schema\" = current_schema() AND \"table_name\" = $1",
        )
        .bind(table)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            return Err(refusal(
                table,
                "*",
                "the table exists but was not created by sync-core".to_owned(),
                "rename or drop it, or store the entity elsewhere with #[sync(table = \"...\")]",
            ));
        }
        for statement in ddl::create_table(Dialect::Postgres, table, handler.columns()) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        for column in handler.columns() {
            record(tx, table, column).await?;
        }
        return Ok(());
    }

    // The table is shared: the live-row checks count every tenant's rows.
    for step in plan(table, handler.columns(), &recorded)? {
        let column = step.column();
        match step {
            Step::AddColumn(_) => add_column(tx, table, column).await?,
            Step::AddRequiredColumn(_) => {
                let live = count(
                    tx,
                    &format!(
                        "SELECT COUNT(*) FROM {} WHERE NOT \"{DELETED}\"",
                        quoted(table)
                    ),
                )
                .await?;
                if live > 0 {
                    return Err(required_column_refusal(table, column.name, live));
                }
                add_column(tx, table, column).await?;
            }
            Step::RequireValues(_) => {
                let nulls = count(
                    tx,
                    &format!(
                        "SELECT COUNT(*) FROM {} WHERE NOT \"{DELETED}\" AND {} IS NULL",
                        quoted(table),
                        quoted(column.name)
                    ),
                )
                .await?;
                if nulls > 0 {
                    return Err(null_values_refusal(table, column.name, nulls));
                }
            }
            Step::Relax(_) => {}
        }
        record(tx, table, column).await?;
        tracing::info!(table, column = column.name, ?step, "evolved schema");
    }
    for column in handler.columns().iter().filter(|column| column.indexed) {
        sqlx::query(&ddl::create_index(Dialect::Postgres, table, column.name))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn add_column(tx: &mut PgConnection, table: &str, column: &Column) -> Result<()> {
    sqlx::query(&ddl::add_column(Dialect::Postgres, table, column))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn count(tx: &mut PgConnection, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&mut *tx).await?)
}

async fn record(tx: &mut PgConnection, table: &str, column: &Column) -> Result<()> {
    let recorded = RecordedColumn::of(column);
    sqlx::query(
        "INSERT INTO \"_sync_schema\" (\"table_name\", \"column_name\", \"sql_type\", \"nullable\", \"role\") \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (\"table_name\", \"column_name\") DO UPDATE SET \
         \"sql_type\" = EXCLUDED.\"sql_type\", \"nullable\" = EXCLUDED.\"nullable\", \"role\" = EXCLUDED.\"role\"",
    )
    .bind(table)
    .bind(recorded.name)
    .bind(recorded.sql_type)
    .bind(recorded.nullable)
    .bind(role_name(column.role))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
