//! The streamed snapshot: rows read one at a time from each table, in one read transaction,
//! and handed to the sink as they arrive, so no table is ever held in memory whole.
//!
//! The rows are read by a rusqlite connection of its own on a blocking thread, which decodes
//! each row into its entity's JSON and passes them on in chunks of [`CHUNK`] rows through a
//! short bounded channel: a hand-off per chunk instead of sqlx's hand-off per row, and the
//! decoding on one core while the sink encodes on another. At most
//! `(PIECES + 2) × CHUNK` rows exist at once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde_json::Value as Json;
use tokio::sync::mpsc;

use super::Inner;
use super::bind::read_ref;
use super::tenants::TenantDb;
use crate::entity::{Handler, Value};
use crate::error::{Error, Result};
use crate::store::SnapshotSink;

/// Rows per hand-off.
const CHUNK: usize = 256;
/// Chunks that may wait for the sink.
const PIECES: usize = 4;

/// What the reading thread passes to the sink, in the sink's order.
enum Piece {
    Cursor(u64),
    Collection(&'static str),
    Rows(Vec<Json>),
}

pub(super) async fn snapshot<K: SnapshotSink>(
    db: &TenantDb,
    inner: &Arc<Inner>,
    sink: &mut K,
) -> Result<()> {
    let (sender, mut receiver) = mpsc::channel(PIECES);
    let path = db.path.clone();
    let inner = inner.clone();
    // If this future is dropped, the receiver goes with it and the reader stops at its
    // next hand-off.
    let reading = tokio::task::spawn_blocking(move || read(&path, &inner, &sender));
    while let Some(piece) = receiver.recv().await {
        match piece {
            Piece::Cursor(cursor) => sink.cursor(cursor),
            Piece::Collection(name) => sink.collection(name),
            Piece::Rows(rows) => {
                for row in &rows {
                    sink.row(row);
                }
            }
        }
    }
    reading
        .await
        .map_err(|error| Error::Unavailable(format!("its snapshot reader failed: {error}")))?
}

/// Reads the snapshot on the calling (blocking) thread and sends it piece by piece; stops
/// early, without error, when the receiver is gone.
fn read(path: &Path, inner: &Inner, sender: &mpsc::Sender<Piece>) -> Result<()> {
    let mut connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // One read transaction: in WAL mode its first read fixes what every later read sees.
    let tx = connection.transaction()?;
    let cursor = super::apply::read_meta(&tx, super::apply::SEQ_KEY)?;
    let send = |piece: Piece| sender.blocking_send(piece).is_ok();
    if !send(Piece::Cursor(cursor)) {
        return Ok(());
    }
    let mut handlers: Vec<&dyn Handler> = inner.registry().iter().collect();
    handlers.sort_unstable_by_key(|handler| handler.collection());
    for handler in handlers {
        if !send(Piece::Collection(handler.collection())) {
            return Ok(());
        }
        let sql = inner.table_sql(handler);
        let columns = handler.columns();
        let mut statement = tx.prepare(&sql.snapshot)?;
        let mut rows = statement.query([])?;
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns.len());
            for (index, column) in columns.iter().enumerate() {
                values.push(read_ref(row, index, column)?);
            }
            // Only live rows are selected: each is its entity's JSON, with no tombstone form.
            let json = handler
                .row_to_json(values)
                .map_err(|source| Error::Decode {
                    table: handler.table(),
                    id: match read_ref(row, sql.id_position, &columns[sql.id_position]) {
                        Ok(Value::Text(text)) => text,
                        Ok(Value::Int(number)) => number.to_string(),
                        other => format!("{other:?}"),
                    },
                    source,
                })?;
            chunk.push(json);
            if chunk.len() == CHUNK
                && !send(Piece::Rows(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(CHUNK),
                )))
            {
                return Ok(());
            }
        }
        if !chunk.is_empty() && !send(Piece::Rows(chunk)) {
            return Ok(());
        }
    }
    tx.commit()?;
    Ok(())
}
