//! A stream bucket's catch-up: rows by (tenant, key, seq) and moves by (tenant, stream,
//! key, seq), read in one snapshot transaction with the tenant's cursor.

use sqlx::Acquire;

use super::Inner;
use super::bind::{as_i64, quoted};
use super::feed::{SNAPSHOT, read_meta};
use crate::entity::stream::StreamSpec;
use crate::error::Result;
use crate::store::ddl::{DELETED, SEQ, TENANT};
use crate::store::{BucketFeed, MoveRecord, MoveRow};
use crate::tenant::TenantId;

pub(super) async fn bucket_feed(
    inner: &Inner,
    tenant: &TenantId,
    stream: &StreamSpec,
    key: &str,
    cursor: u64,
    limit: usize,
) -> Result<BucketFeed> {
    let Some(handler) = inner.registry().get(stream.entity) else {
        return Ok(BucketFeed::default());
    };
    let tenant = tenant.as_str();
    let mut connection = inner.pool.acquire().await?;
    let mut tx = connection.begin().await?;
    sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
    let (current, purged) = read_meta(&mut tx, tenant).await?;
    if cursor > 0 && cursor < purged {
        return Ok(BucketFeed {
            cursor: current,
            reset: true,
            ..BucketFeed::default()
        });
    }
    let names: Vec<String> = handler
        .columns()
        .iter()
        .map(|column| quoted(column.name))
        .collect();
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX);
    let text = format!(
        "SELECT {}, \"{DELETED}\", \"{SEQ}\" FROM {} WHERE \"{TENANT}\" = $1 \
         AND {} = $2::text::{} AND \"{SEQ}\" > $3 ORDER BY \"{SEQ}\" LIMIT $4",
        names.join(", "),
        quoted(handler.table()),
        quoted(stream.by),
        stream.key_type.postgres()
    );
    let sql = inner.table_sql(handler);
    let rows = sqlx::query(&text)
        .bind(tenant)
        .bind(key)
        .bind(as_i64(cursor))
        .bind(fetch)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| sql.effect(handler, row))
        .collect::<Result<Vec<_>>>()?;
    let moves: Vec<(String, i64)> = sqlx::query_as(
        "SELECT \"entity_id\", \"seq\" FROM \"_sync_moves\" WHERE \"tenant\" = $1 AND \"stream\" = $2 \
         AND \"old_key\" = $3 AND \"seq\" > $4 ORDER BY \"seq\" LIMIT $5",
    )
    .bind(tenant)
    .bind(stream.name)
    .bind(key)
    .bind(as_i64(cursor))
    .bind(fetch)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(BucketFeed {
        rows,
        moves: moves
            .into_iter()
            .map(|(id, seq)| (id, u64::try_from(seq).unwrap_or_default()))
            .collect(),
        cursor: current,
        reset: false,
    })
}

pub(super) async fn moves_between(
    inner: &Inner,
    tenant: &TenantId,
    after: u64,
    through: u64,
) -> Result<Vec<MoveRecord>> {
    let rows: Vec<MoveRow> = sqlx::query_as(
        "SELECT \"stream\", \"old_key\", \"seq\", \"entity_id\" FROM \"_sync_moves\" \
         WHERE \"tenant\" = $1 AND \"seq\" > $2 AND \"seq\" <= $3 ORDER BY \"seq\"",
    )
    .bind(tenant.as_str())
    .bind(as_i64(after))
    .bind(as_i64(through))
    .fetch_all(&inner.pool)
    .await?;
    Ok(rows.into_iter().map(MoveRecord::from).collect())
}
