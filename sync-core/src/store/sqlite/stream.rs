//! The streamed snapshot: rows read one at a time from each table, in one read transaction,
//! and handed to the sink as they arrive, so no table is ever held in memory whole.

use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;

use super::Inner;
use super::bind::read_value;
use super::feed::{SEQ_KEY, read_meta};
use super::tenants::TenantDb;
use crate::entity::{Handler, Value};
use crate::error::{Error, Result};
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
        let columns = handler.columns();
        while let Some(row) = rows.try_next().await? {
            let mut values = Vec::with_capacity(columns.len());
            for (index, column) in columns.iter().enumerate() {
                values.push(read_value(&row, index, column)?);
            }
            // Only live rows are selected: each is its entity's JSON, with no tombstone form.
            let json = handler
                .row_to_json(values)
                .map_err(|source| Error::Decode {
                    table: handler.table(),
                    id: row_id(&row, handler, sql.id_position),
                    source,
                })?;
            sink.row(&json);
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The id of an undecodable row, for the error.
fn row_id(row: &SqliteRow, handler: &dyn Handler, position: usize) -> String {
    match read_value(row, position, &handler.columns()[position]) {
        Ok(Value::Text(text)) => text,
        Ok(Value::Int(number)) => number.to_string(),
        other => format!("{other:?}"),
    }
}
