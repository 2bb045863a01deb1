//! The central auth database, `<data_dir>/auth.db`: users, their tenants and their
//! settings. Tenant *data* lives in the sync store, one database per tenant; this one
//! only says who owns which tenant.
//!
//! Names and emails are unique ignoring case (their lowercase forms are indexed), because
//! login matches them ignoring case. Times are stored as RFC 3339 text with milliseconds.

mod settings;
mod tenants;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sync_core::version::Version;

use crate::error::{Error, Result};

pub use settings::{Settings, SettingsUpdate};
pub use tenants::{Tenant, TenantConflict};
pub use users::{NewUser, User, UserConflict};

/// The file name of the auth database under the data directory.
pub const AUTH_DB_FILE: &str = "auth.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    uuid TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_name_key ON users (name_key);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email_key);

CREATE TABLE IF NOT EXISTS tenants (
    uuid TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE IF NOT EXISTS user_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    log_level TEXT NOT NULL,
    log_categories TEXT NOT NULL,
    history_retention_days INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
";

/// The auth database. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct AuthDb {
    pool: SqlitePool,
}

impl AuthDb {
    /// Opens (creating if needed) the database at `path` and creates missing tables.
    pub async fn open(path: &Path) -> Result<AuthDb> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(AuthDb { pool })
    }

    /// The connection pool, for queries this module does not offer.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// The case-folded form names and emails are compared by.
pub(crate) fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

/// Reads a stored time; the database only holds what [`Version`]'s `Display` wrote.
pub(crate) fn read_time(text: &str) -> Result<Version> {
    Version::from_str(text).map_err(|error| {
        Error::Database(sqlx::Error::Decode(
            format!("stored time {text:?}: {error}").into(),
        ))
    })
}

/// Whether `error` is a violated UNIQUE constraint naming `column`.
pub(crate) fn violates_unique(error: &sqlx::Error, column: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation() && db.message().contains(column))
}
