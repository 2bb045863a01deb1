//! The bookkeeping tables of partial sync: the subscriptions, and the holds of rows by
//! buckets. Callers pass a connection that is usually inside a transaction, so the holds
//! change together with the rows they keep.

use std::collections::BTreeSet;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::error::Result;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS \"_sync_subscriptions\" (\
        \"id\" TEXT NOT NULL PRIMARY KEY, \
        \"entity\" TEXT NOT NULL, \
        \"stream\" TEXT NOT NULL, \
        \"keys\" TEXT NOT NULL, \
        \"buckets\" TEXT, \
        \"definition\" TEXT, \
        \"cursor\" INTEGER, \
        \"expires_at\" INTEGER, \
        \"error\" TEXT, \
        \"created_at\" INTEGER NOT NULL)",
    // One row per (subscription, bucket, row): `held` 1 keeps the row, 0 records that it
    // left at `seq` (so an older put of an overlapping catch-up cannot bring it back).
    // `marked` is the mark of a reload's mark-and-sweep.
    "CREATE TABLE IF NOT EXISTS \"_sync_holds\" (\
        \"subscription\" TEXT NOT NULL, \
        \"bucket\" TEXT NOT NULL, \
        \"entity\" TEXT NOT NULL, \
        \"entity_id\" TEXT NOT NULL, \
        \"stream\" TEXT NOT NULL, \
        \"seq\" INTEGER NOT NULL, \
        \"held\" INTEGER NOT NULL, \
        \"marked\" INTEGER NOT NULL DEFAULT 1, \
        PRIMARY KEY (\"subscription\", \"bucket\", \"entity\", \"entity_id\"))",
    // The entities ever subscribed on this replica: they stay partial (their rows are those
    // a subscription holds) after their last subscription ends.
    "CREATE TABLE IF NOT EXISTS \"_sync_streamed\" (\"entity\" TEXT NOT NULL PRIMARY KEY)",
    "CREATE INDEX IF NOT EXISTS \"_sync_holds_row_idx\" ON \"_sync_holds\" (\"entity\", \"entity_id\")",
];

/// Creates the tables if they are missing.
pub(crate) async fn create(conn: &mut SqliteConnection) -> Result<()> {
    for statement in SCHEMA {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) id: String,
    pub(crate) entity: String,
    pub(crate) stream: String,
    pub(crate) keys: Vec<String>,
    /// The buckets the server granted (its last `subscribed`, less those removed since,
    /// plus those sent since); `None` before the first `subscribed`.
    pub(crate) buckets: Option<Vec<String>>,
    pub(crate) definition: Option<String>,
    pub(crate) cursor: Option<u64>,
    /// Unsubscribed with a TTL: its holds stay until then (ms since the epoch).
    pub(crate) expires_at: Option<i64>,
    pub(crate) error: Option<String>,
    pub(crate) created_at: i64,
}

impl Stored {
    /// Whether it still syncs (not unsubscribed).
    pub(crate) fn active(&self) -> bool {
        self.expires_at.is_none()
    }

    /// The buckets it holds: the granted ones, or the keys asked for until the server
    /// answers (a stream keyed by the principal resolves its own).
    pub(crate) fn holds(&self, bucket: &str) -> bool {
        self.buckets
            .as_ref()
            .unwrap_or(&self.keys)
            .iter()
            .any(|held| held == bucket)
    }
}

const COLUMNS: &str = "\"id\", \"entity\", \"stream\", \"keys\", \"definition\", \"cursor\", \
    \"expires_at\", \"error\", \"created_at\", \"buckets\"";

fn stored(row: &SqliteRow) -> Result<Stored> {
    let keys: String = row.try_get(3)?;
    Ok(Stored {
        id: row.try_get(0)?,
        entity: row.try_get(1)?,
        stream: row.try_get(2)?,
        keys: serde_json::from_str(&keys).unwrap_or_default(),
        definition: row.try_get(4)?,
        cursor: row
            .try_get::<Option<i64>, _>(5)?
            .map(|cursor| u64::try_from(cursor).unwrap_or(0)),
        expires_at: row.try_get(6)?,
        error: row.try_get(7)?,
        created_at: row.try_get(8)?,
        buckets: row
            .try_get::<Option<String>, _>(9)?
            .and_then(|text| serde_json::from_str(&text).ok()),
    })
}

pub(crate) fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Records a new subscription.
pub(crate) async fn insert(conn: &mut SqliteConnection, subscription: &Stored) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO \"_sync_subscriptions\" ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&subscription.id)
    .bind(&subscription.entity)
    .bind(&subscription.stream)
    .bind(serde_json::to_string(&subscription.keys).unwrap_or_else(|_| "[]".to_owned()))
    .bind(&subscription.definition)
    .bind(subscription.cursor.map(seq_i64))
    .bind(subscription.expires_at)
    .bind(&subscription.error)
    .bind(subscription.created_at)
    .bind(
        subscription
            .buckets
            .as_ref()
            .map(|buckets| serde_json::to_string(buckets).unwrap_or_else(|_| "[]".to_owned())),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records that an entity is streamed from now on.
pub(crate) async fn set_streamed(conn: &mut SqliteConnection, entity: &str) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO \"_sync_streamed\" (\"entity\") VALUES (?)")
        .bind(entity)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Every subscription, oldest first.
pub(crate) async fn list(conn: &mut SqliteConnection) -> Result<Vec<Stored>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM \"_sync_subscriptions\" ORDER BY \"created_at\", rowid"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(stored).collect()
}

/// One subscription.
pub(crate) async fn get(conn: &mut SqliteConnection, id: &str) -> Result<Option<Stored>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM \"_sync_subscriptions\" WHERE \"id\" = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(stored).transpose()
}

/// The entities ever subscribed on this replica: their rows live only while a bucket
/// holds them, also once their last subscription has ended.
pub(crate) async fn streamed(conn: &mut SqliteConnection) -> Result<BTreeSet<String>> {
    let entities: Vec<String> = sqlx::query_scalar(
        "SELECT \"entity\" FROM \"_sync_streamed\" \
         UNION SELECT \"entity\" FROM \"_sync_subscriptions\"",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(entities.into_iter().collect())
}

/// Moves a subscription's cursor (and the definition it was synced under).
pub(crate) async fn set_cursor(
    conn: &mut SqliteConnection,
    id: &str,
    cursor: u64,
    definition: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE \"_sync_subscriptions\" SET \"cursor\" = ?, \
         \"definition\" = COALESCE(?, \"definition\") WHERE \"id\" = ?",
    )
    .bind(seq_i64(cursor))
    .bind(definition)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the buckets the server granted a subscription.
pub(crate) async fn set_buckets(
    conn: &mut SqliteConnection,
    id: &str,
    buckets: &[String],
) -> Result<()> {
    let mut buckets = buckets.to_vec();
    buckets.sort();
    buckets.dedup();
    sqlx::query("UPDATE \"_sync_subscriptions\" SET \"buckets\" = ? WHERE \"id\" = ?")
        .bind(serde_json::to_string(&buckets).unwrap_or_else(|_| "[]".to_owned()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Moves the cursor of every listed subscription forward to `cursor`; returns those at
/// `cursor` now (moved, or there already). A cursor past it stays.
pub(crate) async fn advance(
    conn: &mut SqliteConnection,
    ids: &[&str],
    cursor: u64,
) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    for id in ids {
        let done = sqlx::query(
            "UPDATE \"_sync_subscriptions\" SET \"cursor\" = ? \
             WHERE \"id\" = ? AND \"cursor\" IS NOT NULL AND \"cursor\" <= ?",
        )
        .bind(seq_i64(cursor))
        .bind(id)
        .bind(seq_i64(cursor))
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() > 0 {
            moved.push((*id).to_owned());
        }
    }
    Ok(moved)
}

/// Records why the server refused a subscription (or clears it).
pub(crate) async fn set_error(
    conn: &mut SqliteConnection,
    id: &str,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE \"_sync_subscriptions\" SET \"error\" = ? WHERE \"id\" = ?")
        .bind(error)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends the syncing of a subscription; its holds stay until `expires_at`.
pub(crate) async fn set_expiry(
    conn: &mut SqliteConnection,
    id: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query("UPDATE \"_sync_subscriptions\" SET \"expires_at\" = ? WHERE \"id\" = ?")
        .bind(expires_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The earliest expiry of a warm subscription.
pub(crate) async fn next_expiry(conn: &mut SqliteConnection) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(\"expires_at\") FROM \"_sync_subscriptions\" WHERE \"expires_at\" IS NOT NULL",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The warm subscriptions whose expiry has passed.
pub(crate) async fn expired(conn: &mut SqliteConnection, now_ms: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT \"id\" FROM \"_sync_subscriptions\" WHERE \"expires_at\" IS NOT NULL AND \"expires_at\" <= ?",
    )
    .bind(now_ms)
    .fetch_all(&mut *conn)
    .await?)
}

/// Removes a subscription and its holds; returns the rows they held.
pub(crate) async fn delete(conn: &mut SqliteConnection, id: &str) -> Result<Vec<(String, String)>> {
    let rows = released(conn, id, Only::All).await?;
    sqlx::query("DELETE FROM \"_sync_subscriptions\" WHERE \"id\" = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(rows)
}

/// Deletes the holds of subscription `id` (in `bucket`, or those unmarked); returns the
/// rows they held.
async fn released(
    conn: &mut SqliteConnection,
    id: &str,
    only: Only<'_>,
) -> Result<Vec<(String, String)>> {
    let (filter, bucket) = match only {
        Only::All => ("", None),
        Only::Bucket(bucket) => (" AND \"bucket\" = ?", Some(bucket)),
        Only::Unmarked => (" AND \"marked\" = 0", None),
    };
    let sql = format!(
        "DELETE FROM \"_sync_holds\" WHERE \"subscription\" = ?{filter} \
         RETURNING \"entity\", \"entity_id\", \"held\""
    );
    let mut query = sqlx::query_as::<_, (String, String, i64)>(&sql).bind(id);
    if let Some(bucket) = bucket {
        query = query.bind(bucket);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, held)| *held != 0)
        .map(|(entity, entity_id, _)| (entity, entity_id))
        .collect())
}

enum Only<'a> {
    All,
    Bucket(&'a str),
    Unmarked,
}

/// Drops one bucket of a subscription; returns the rows it held.
pub(crate) async fn drop_bucket(
    conn: &mut SqliteConnection,
    id: &str,
    bucket: &str,
) -> Result<Vec<(String, String)>> {
    released(conn, id, Only::Bucket(bucket)).await
}

/// Starts a reload's mark-and-sweep: every hold of the subscription unmarked.
pub(crate) async fn unmark(conn: &mut SqliteConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE \"_sync_holds\" SET \"marked\" = 0 WHERE \"subscription\" = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends a reload: the holds the reload did not mark go; returns the rows they held.
pub(crate) async fn sweep(conn: &mut SqliteConnection, id: &str) -> Result<Vec<(String, String)>> {
    released(conn, id, Only::Unmarked).await
}

/// Forgets the leaves of a subscription at or below its cursor: no older change can come.
pub(crate) async fn prune(conn: &mut SqliteConnection, id: &str, cursor: u64) -> Result<()> {
    sqlx::query(
        "DELETE FROM \"_sync_holds\" WHERE \"subscription\" = ? AND \"held\" = 0 AND \"seq\" <= ?",
    )
    .bind(id)
    .bind(seq_i64(cursor))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The buckets a subscription holds rows of.
pub(crate) async fn held_buckets(conn: &mut SqliteConnection, id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT \"bucket\" FROM \"_sync_holds\" WHERE \"subscription\" = ? AND \"held\" = 1 \
         ORDER BY \"bucket\"",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?)
}

/// One hold of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hold {
    pub(crate) subscription: String,
    pub(crate) stream: String,
    pub(crate) bucket: String,
    pub(crate) seq: u64,
    pub(crate) held: bool,
}

/// Every hold (and recorded leave) of a row.
pub(crate) async fn of_row(
    conn: &mut SqliteConnection,
    entity: &str,
    entity_id: &str,
) -> Result<Vec<Hold>> {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT \"subscription\", \"stream\", \"bucket\", \"seq\", \"held\" FROM \"_sync_holds\" \
         WHERE \"entity\" = ? AND \"entity_id\" = ?",
    )
    .bind(entity)
    .bind(entity_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(subscription, stream, bucket, seq, held)| Hold {
            subscription,
            stream,
            bucket,
            seq: u64::try_from(seq).unwrap_or(0),
            held: held != 0,
        })
        .collect())
}

/// What a hold records.
#[derive(Clone, Copy)]
pub(crate) struct Put<'a> {
    pub(crate) subscription: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) entity: &'a str,
    pub(crate) entity_id: &'a str,
    pub(crate) seq: u64,
    pub(crate) held: bool,
}

/// Records a hold (or a leave) at `seq`, marked, unless the one recorded is as new;
/// returns whether it was recorded.
pub(crate) async fn put(conn: &mut SqliteConnection, hold: Put<'_>) -> Result<bool> {
    let result = sqlx::query(
        "INSERT INTO \"_sync_holds\" (\"subscription\", \"bucket\", \"entity\", \"entity_id\", \"stream\", \
         \"seq\", \"held\", \"marked\") VALUES (?, ?, ?, ?, ?, ?, ?, 1) \
         ON CONFLICT (\"subscription\", \"bucket\", \"entity\", \"entity_id\") DO UPDATE SET \
         \"seq\" = excluded.\"seq\", \"held\" = excluded.\"held\", \"marked\" = 1 \
         WHERE excluded.\"seq\" > \"_sync_holds\".\"seq\"",
    )
    .bind(hold.subscription)
    .bind(hold.bucket)
    .bind(hold.entity)
    .bind(hold.entity_id)
    .bind(hold.stream)
    .bind(seq_i64(hold.seq))
    .bind(i64::from(hold.held))
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Marks a hold a reload re-delivered at a sequence number it already had.
pub(crate) async fn mark(conn: &mut SqliteConnection, hold: &Put<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE \"_sync_holds\" SET \"marked\" = 1 WHERE \"subscription\" = ? AND \"bucket\" = ? \
         AND \"entity\" = ? AND \"entity_id\" = ?",
    )
    .bind(hold.subscription)
    .bind(hold.bucket)
    .bind(hold.entity)
    .bind(hold.entity_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many buckets hold a row.
pub(crate) async fn held_count(
    conn: &mut SqliteConnection,
    entity: &str,
    entity_id: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM \"_sync_holds\" WHERE \"entity\" = ? AND \"entity_id\" = ? AND \"held\" = 1",
    )
    .bind(entity)
    .bind(entity_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// The ids of `entity`'s rows that any hold (or recorded leave) names.
pub(crate) async fn known(conn: &mut SqliteConnection, entity: &str) -> Result<BTreeSet<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT \"entity_id\" FROM \"_sync_holds\" WHERE \"entity\" = ?",
    )
    .bind(entity)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().collect())
}
