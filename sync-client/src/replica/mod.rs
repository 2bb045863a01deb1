//! The local replica: the server's entity tables (through [`Tables`]) in a local SQLite
//! file, plus the outbox and the client's metadata.
//!
//! Every row keeps, in `_sync_seq`, the server sequence number of the state it holds or
//! was edited from (0 when unknown). Local edits keep the sequence number of the state
//! they were made on, so incoming changes can always be ordered against a row.
//!
//! The rules for incoming changes are in [`apply`], the handling of the server's answers
//! in [`settle`]; local writes are in [`local`]; partial sync (rows held by buckets) in
//! [`streams`].

pub(crate) mod apply;
pub(crate) mod local;
pub(crate) mod meta;
pub(crate) mod settle;
pub(crate) mod streams;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use sync_core::entity::{Handler, Role};
use sync_core::outcome::Effect;
use sync_core::store::ddl::SEQ;
use sync_core::store::sqlite::{Synchronous, Tables};
use sync_core::version::Version;
use sync_core::{Registry, TenantId};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::event::{Changed, Source};
use crate::outbox;

pub(crate) use meta::Meta;

/// The replica's database: one connection, so every transaction is serialised.
pub(crate) struct Replica {
    connection: Mutex<Option<SqliteConnection>>,
    tables: Tables,
}

/// A locked connection to the replica.
pub(crate) type Locked<'a> = tokio::sync::MappedMutexGuard<'a, SqliteConnection>;

impl Replica {
    /// Opens (creating if needed) the replica at `path`, or in memory when `path` is
    /// `None`, brings its tables to `registry`, and puts back to pending the outbox
    /// entries a previous process left processing.
    pub(crate) async fn open(
        path: Option<&Path>,
        registry: Registry,
        synchronous: Synchronous,
        tenant: &TenantId,
    ) -> Result<(Replica, Meta)> {
        let options = match path {
            Some(path) => SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal),
            None => SqliteConnectOptions::new().in_memory(true),
        };
        let mut connection = options
            .synchronous(synchronous.into())
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false)
            .connect()
            .await?;
        let tables = Tables::new(registry);
        tables.create(&mut connection).await?;
        let mut tx = connection.begin_with("BEGIN IMMEDIATE").await?;
        outbox::create(&mut tx).await?;
        streams::holds::create(&mut tx).await?;
        let mut meta = meta::load(&mut tx).await?;
        match &meta.tenant {
            Some(stored) if stored != tenant.as_str() => {
                return Err(Error::TenantMismatch {
                    path: path
                        .map_or_else(|| ":memory:".to_owned(), |path| path.display().to_string()),
                    stored: stored.clone(),
                    configured: tenant.to_string(),
                });
            }
            Some(_) => {}
            None => {
                meta::set_tenant(&mut tx, tenant.as_str()).await?;
                meta.tenant = Some(tenant.to_string());
            }
        }
        // A crashed process may have left entries processing: their answers are lost, and
        // their ids make sending them again safe.
        outbox::requeue_processing(&mut tx, u32::MAX).await?;
        tx.commit().await?;
        Ok((
            Replica {
                connection: Mutex::new(Some(connection)),
                tables,
            },
            meta,
        ))
    }

    /// The entity tables.
    pub(crate) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The registered entities.
    pub(crate) fn registry(&self) -> &Registry {
        self.tables.registry()
    }

    /// Locks the connection; fails once the replica is closed.
    pub(crate) async fn lock(&self) -> Result<Locked<'_>> {
        MutexGuard::try_map(self.connection.lock().await, Option::as_mut).map_err(|_| Error::Closed)
    }

    /// Whether nobody holds or waits for the connection (so no statement is running).
    pub(crate) fn is_idle(&self) -> bool {
        self.connection.try_lock().is_ok()
    }

    /// Closes the database cleanly; later calls fail with [`Error::Closed`].
    pub(crate) async fn close(&self) -> Result<()> {
        let connection = self.connection.lock().await.take();
        if let Some(connection) = connection {
            connection.close().await?;
        }
        Ok(())
    }
}

/// The handler of `entity_type`, if registered.
pub(crate) fn handler<'a>(tables: &'a Tables, entity_type: &str) -> Option<&'a dyn Handler> {
    tables.registry().get(entity_type)
}

/// The id column of an entity.
fn id_column(handler: &dyn Handler) -> &'static str {
    handler.columns()[handler.position(Role::Id)].name
}

/// Sets the server sequence number a row reflects.
pub(crate) async fn set_seq(
    conn: &mut SqliteConnection,
    handler: &dyn Handler,
    entity_id: &str,
    seq: u64,
) -> Result<()> {
    sqlx::query(&format!(
        "UPDATE \"{}\" SET \"{SEQ}\" = ? WHERE \"{}\" = ?",
        handler.table(),
        id_column(handler)
    ))
    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
    .bind(entity_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a row altogether, tombstone included: the replica then knows nothing of it.
pub(crate) async fn forget(
    conn: &mut SqliteConnection,
    handler: &dyn Handler,
    entity_id: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "DELETE FROM \"{}\" WHERE \"{}\" = ?",
        handler.table(),
        id_column(handler)
    ))
    .bind(entity_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes an entity's state (a live row or a tombstone) at `seq`. A live state that does
/// not fit the local type is logged and skipped: `None`.
#[allow(clippy::too_many_arguments, reason = "one state, spelled out")]
pub(crate) async fn write_state(
    conn: &mut SqliteConnection,
    tables: &Tables,
    handler: &dyn Handler,
    entity_id: &str,
    deleted: bool,
    version: Version,
    data: &Json,
    seq: u64,
    source: Source,
) -> Result<Option<Changed>> {
    let data = if deleted {
        tables
            .delete(conn, handler.entity(), entity_id, version, seq)
            .await?;
        handler.tombstone_json(entity_id, version)
    } else {
        match tables
            .put_json(conn, handler.entity(), entity_id, data, seq)
            .await?
        {
            Ok(effect) => effect.data,
            Err(rejection) => {
                tracing::warn!(
                    entity = handler.entity(),
                    entity_id,
                    %rejection,
                    "a state from the server does not fit the local type; kept the local row"
                );
                return Ok(None);
            }
        }
    };
    Ok(Some(Changed {
        entity_type: handler.entity(),
        entity_id: entity_id.to_owned(),
        deleted,
        version,
        data,
        source,
    }))
}

/// The base recorded for a row's state.
pub(crate) fn base_of(effect: &Effect) -> outbox::Base {
    outbox::Base {
        deleted: effect.deleted,
        version: effect.version,
        data: effect.data.clone(),
        seq: effect.seq,
    }
}

/// The version in an entity's JSON.
pub(crate) fn version_in(handler: &dyn Handler, data: &Json) -> Option<Version> {
    data.get(handler.updated_at_key())
        .and_then(Json::as_str)
        .and_then(|text| Version::parse(text).ok())
}

/// The id in an entity's JSON (a string, or a number's text).
pub(crate) fn id_in(data: &Json) -> Option<String> {
    match data.get("id")? {
        Json::String(id) => Some(id.clone()),
        Json::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
