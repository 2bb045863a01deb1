//! Whole-tenant operations over the shared tables: deleting a tenant, and the retention
//! sweep that purges every tenant's expired tombstones.

use std::sync::Weak;
use std::time::Duration;

use sqlx::Acquire;

use super::Inner;
use super::apply::lock_tenant;
use super::bind::quoted;
use crate::error::Result;
use crate::store::ddl::TENANT;
use crate::tenant::TenantId;
use crate::version::Version;

/// How many tenants one step of the retention sweep lists.
const SWEEP_PAGE: i64 = 500;
/// How often the background sweep purges expired tombstones.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Removes `tenant`'s rows from every table, its processed ids and its sequence row, in one
/// transaction, after any write of the tenant in progress.
pub(super) async fn delete(inner: &Inner, tenant: &TenantId) -> Result<()> {
    let tenant = tenant.as_str();
    let mut connection = inner.pool.acquire().await?;
    let mut tx = connection.begin().await?;
    lock_tenant(&mut tx, tenant).await?;
    for handler in inner.registry().iter() {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE \"{TENANT}\" = $1",
            quoted(handler.table())
        ))
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    }
    for statement in [
        "DELETE FROM \"_sync_changes\" WHERE \"tenant\" = $1",
        "DELETE FROM \"_sync_moves\" WHERE \"tenant\" = $1",
        "DELETE FROM \"_sync_tenants\" WHERE \"tenant\" = $1",
    ] {
        sqlx::query(statement)
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(%tenant, "deleted tenant");
    Ok(())
}

/// Purges every tenant's tombstones older than `horizon`, a page of tenants at a time,
/// each tenant in its own short transaction; returns how many were removed.
pub(super) async fn purge_all(inner: &Inner, horizon: Version) -> Result<u64> {
    let mut removed = 0;
    let mut after = String::new();
    loop {
        let tenants: Vec<String> = sqlx::query_scalar(
            "SELECT \"tenant\" FROM \"_sync_tenants\" WHERE \"tenant\" COLLATE \"C\" > $1 \
             ORDER BY \"tenant\" COLLATE \"C\" LIMIT $2",
        )
        .bind(&after)
        .bind(SWEEP_PAGE)
        .fetch_all(&inner.pool)
        .await?;
        let Some(last) = tenants.last() else {
            return Ok(removed);
        };
        after.clone_from(last);
        for tenant in &tenants {
            removed += super::feed::purge(inner, tenant, horizon).await?.removed;
        }
    }
}

/// Purges expired tombstones hourly until the store is dropped.
pub(super) fn spawn_purge_sweep(inner: Weak<Inner>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PURGE_INTERVAL);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            let store = super::PostgresStore { inner };
            match store.purge_expired().await {
                Ok(removed) => tracing::debug!(removed, "purged expired tombstones"),
                Err(error) => tracing::warn!(%error, "purging expired tombstones failed"),
            }
        }
    });
}
