//! The streamed snapshot: rows read one at a time from each table, in one read transaction,
//! and handed to the sink as they arrive, so no table is ever held in memory whole.

use futures::TryStreamExt;

use super::Inner;
use super::feed::{SEQ_KEY, read_meta};
use super::tenants::TenantDb;
use crate::entity::Handler;
use crate::error::Result;
use crate::store::SnapshotSink;

pub(super) async fn snapshot<K: SnapshotSink>(
    db: &TenantDb,
    inner: &Inner,
    sink: &mut K,
) -> Result<()> {
    let mut tx = db.readers.begin().await?;
    sink.cursor(read_meta(&mut tx, SEQ_KEY).await?);
    let mut handlers: Vec<&dyn Handler> = inner.registry().iter().collect();
    handlers.sort_unstable_by_key(|handler| handler.collection());
    for handler in handlers {
        sink.collection(handler.collection());
        let sql = inner.table_sql(handler);
        let mut rows = sqlx::query(&sql.snapshot).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            sink.row(&sql.effect(handler, &row)?.data);
        }
    }
    tx.commit().await?;
    Ok(())
}
