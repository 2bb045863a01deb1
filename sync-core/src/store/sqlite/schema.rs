//! Creates and evolves a tenant database's tables, in one transaction: a refused change
//! leaves the database as it was.

use sqlx::{Connection, SqliteConnection};

use super::bind::quoted;
use crate::entity::{Column, Handler, Registry};
use crate::error::Result;
use crate::store::ddl::{self, DELETED, Dialect, SQLITE_META};
use crate::store::schema::{
    RecordedColumn, Step, null_values_refusal, plan, refusal, required_column_refusal, role_name,
};

/// Brings the database behind `connection` to the registered entities.
pub(super) async fn prepare(connection: &mut SqliteConnection, registry: &Registry) -> Result<()> {
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
    for statement in SQLITE_META {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    sqlx::query("INSERT OR IGNORE INTO \"_sync_meta\" (\"key\", \"value\") VALUES ('seq', 0), ('purged_seq', 0), ('purged_at', 0)")
        .execute(&mut *tx)
        .await?;
    for handler in registry.iter() {
        prepare_table(&mut tx, handler).await?;
        for stream in handler.streams() {
            sqlx::query(&ddl::create_bucket_index(
                Dialect::Sqlite,
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

async fn prepare_table(tx: &mut SqliteConnection, handler: &dyn Handler) -> Result<()> {
    let table = handler.table();
    let recorded: Vec<RecordedColumn> = sqlx::query_as::<_, (String, String, bool, String)>(
        "SELECT \"column_name\", \"sql_type\", \"nullable\", \"role\" FROM \"_sync_schema\" WHERE \"table_name\" = ?",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(name, sql_type, nullable, role)| RecordedColumn { name, sql_type, nullable, role })
    .collect();

    if recorded.is_empty() {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM \"sqlite_master\" WHERE \"type\" = 'table' AND \"name\" = ?",
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
        for statement in ddl::create_table(Dialect::Sqlite, table, handler.columns()) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        for column in handler.columns() {
            record(tx, table, column).await?;
        }
        return Ok(());
    }

    for step in plan(table, handler.columns(), &recorded)? {
        let column = step.column();
        match step {
            Step::AddColumn(_) => add_column(tx, table, column).await?,
            Step::AddRequiredColumn(_) => {
                let live = count(
                    tx,
                    &format!(
                        "SELECT COUNT(*) FROM {} WHERE \"{DELETED}\" = 0",
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
                        "SELECT COUNT(*) FROM {} WHERE \"{DELETED}\" = 0 AND {} IS NULL",
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
        sqlx::query(&ddl::create_index(Dialect::Sqlite, table, column.name))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn add_column(tx: &mut SqliteConnection, table: &str, column: &Column) -> Result<()> {
    sqlx::query(&ddl::add_column(Dialect::Sqlite, table, column))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn count(tx: &mut SqliteConnection, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&mut *tx).await?)
}

async fn record(tx: &mut SqliteConnection, table: &str, column: &Column) -> Result<()> {
    let recorded = RecordedColumn::of(column);
    sqlx::query(
        "INSERT INTO \"_sync_schema\" (\"table_name\", \"column_name\", \"sql_type\", \"nullable\", \"role\") \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (\"table_name\", \"column_name\") DO UPDATE SET \
         \"sql_type\" = excluded.\"sql_type\", \"nullable\" = excluded.\"nullable\", \"role\" = excluded.\"role\"",
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
