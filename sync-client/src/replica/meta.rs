//! The client's own metadata in the replica: client id, tenant, cursor and server offset.

use sqlx::SqliteConnection;

use crate::error::Result;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS \"_sync_client\" (\
    \"key\" TEXT NOT NULL PRIMARY KEY, \
    \"value\" TEXT NOT NULL)";

const CLIENT_ID: &str = "client_id";
const TENANT: &str = "tenant";
const CURSOR: &str = "cursor";
const OFFSET: &str = "server_offset_ms";

/// What the replica remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// This replica's stable id, sent in `hello`.
    pub(crate) client_id: String,
    /// The tenant the replica belongs to, if recorded.
    pub(crate) tenant: Option<String>,
    /// The change-feed cursor the replica has caught up to.
    pub(crate) cursor: u64,
    /// Server time minus local time, as learned at the last connect.
    pub(crate) offset_ms: i64,
}

/// Creates the table and reads the metadata, choosing a client id on first use.
pub(crate) async fn load(conn: &mut SqliteConnection) -> Result<Meta> {
    sqlx::query(SCHEMA).execute(&mut *conn).await?;
    sqlx::query("INSERT OR IGNORE INTO \"_sync_client\" (\"key\", \"value\") VALUES (?, ?)")
        .bind(CLIENT_ID)
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(&mut *conn)
        .await?;
    Ok(Meta {
        client_id: read(conn, CLIENT_ID).await?.unwrap_or_default(),
        tenant: read(conn, TENANT).await?,
        cursor: read(conn, CURSOR)
            .await?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0),
        offset_ms: read(conn, OFFSET)
            .await?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0),
    })
}

/// Records the tenant the replica belongs to.
pub(crate) async fn set_tenant(conn: &mut SqliteConnection, tenant: &str) -> Result<()> {
    write(conn, TENANT, tenant).await
}

/// Stores the cursor; call it in the transaction that applied the rows it covers.
pub(crate) async fn set_cursor(conn: &mut SqliteConnection, cursor: u64) -> Result<()> {
    write(conn, CURSOR, &cursor.to_string()).await
}

/// Stores the server offset.
pub(crate) async fn set_offset(conn: &mut SqliteConnection, offset_ms: i64) -> Result<()> {
    write(conn, OFFSET, &offset_ms.to_string()).await
}

/// The stored cursor.
pub(crate) async fn cursor(conn: &mut SqliteConnection) -> Result<u64> {
    Ok(read(conn, CURSOR)
        .await?
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}

async fn read(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT \"value\" FROM \"_sync_client\" WHERE \"key\" = ?")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

async fn write(conn: &mut SqliteConnection, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO \"_sync_client\" (\"key\", \"value\") VALUES (?, ?) \
         ON CONFLICT (\"key\") DO UPDATE SET \"value\" = excluded.\"value\"",
    )
    .bind(key)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
