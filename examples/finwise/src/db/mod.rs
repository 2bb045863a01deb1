//! The central auth database: users, their tenants and their settings. Tenant *data* lives
//! in the sync store; this one only says who owns which tenant.
//!
//! Two backends, one API:
//!
//! - **SQLite** (the embedded default): the file `<data_dir>/auth.db`, opened with
//!   [`AuthDb::open`].
//! - **PostgreSQL** (several nodes): tables `users`, `tenants`, `user_settings`,
//!   `login_sessions` and `server_secrets` in the sync store's database, on the store's own connection pool (so
//!   in its schema when one is configured), opened with [`AuthDb::postgres`]. Several nodes
//!   may start at once: the tables are created under an advisory lock, each node waiting
//!   for the one before it.
//!
//! Every query is written once, with `$N` placeholders (which both SQLite and PostgreSQL
//! accept), and run on whichever pool [`Pool`] holds. Names and emails are unique ignoring
//! case (their lowercase forms are indexed), because login matches them ignoring case.
//! Times are stored as RFC 3339 text with milliseconds, which sorts like the times.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use finwise::db::{AuthDb, NewUser, UserConflict};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = AuthDb::open(&dir.path().join("auth.db")).await.unwrap();
//! let anna = NewUser { name: "Anna", email: "anna@example.com", password_hash: "$2b$04$…" };
//! db.create_user(anna.clone()).await.unwrap().unwrap();
//! let again = NewUser { email: "ANNA@example.com", ..anna };
//! assert_eq!(db.create_user(again).await.unwrap(), Err(UserConflict::Email));
//! # });
//! ```
//!
//! On PostgreSQL, with the pool of the sync store (or any pool whose connections use the
//! schema the tables belong in):
//!
//! ```no_run
//! # async fn run(pool: sqlx::PgPool) -> finwise::Result<()> {
//! let db = finwise::db::AuthDb::postgres(pool).await?;
//! assert!(db.ping().await);
//! # Ok(())
//! # }
//! ```

mod members;
mod schema;
mod sessions;
mod settings;
mod tenants;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sync_core::version::Version;

use crate::error::{Error, Result};

pub use members::{Member, Role};
pub use settings::{Settings, SettingsUpdate};
pub use tenants::{Tenant, TenantConflict};
pub use users::{NewUser, User, UserConflict};

/// The file name of the auth database under the data directory (SQLite).
pub const AUTH_DB_FILE: &str = "auth.db";

/// The connection pool of an [`AuthDb`]: which backend it runs on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Pool {
    /// The embedded file `<data_dir>/auth.db`.
    Sqlite(SqlitePool),
    /// Tables in a PostgreSQL database shared by every node.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the database's pool, whichever backend it is. The
/// body is compiled once per backend, so one query text (with `$N` placeholders) serves
/// both; it must evaluate to the same type for each.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The auth database. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct AuthDb {
    pool: Pool,
}

impl AuthDb {
    /// Opens (creating if needed) the SQLite database at `path` and creates missing tables.
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
        sqlx::raw_sql(schema::SQLITE).execute(&pool).await?;
        schema::widen_roles_sqlite(&pool).await?;
        Ok(AuthDb {
            pool: Pool::Sqlite(pool),
        })
    }

    /// The auth tables on PostgreSQL, through `pool`: creates the missing ones (in the
    /// schema `pool`'s connections use) under an advisory lock, so nodes starting together
    /// do not race. The pool is shared, not copied: pass the sync store's.
    pub async fn postgres(pool: PgPool) -> Result<AuthDb> {
        schema::create_postgres(&pool).await?;
        Ok(AuthDb {
            pool: Pool::Postgres(pool),
        })
    }

    /// The connection pool, for queries this module does not offer.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .is_ok())
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

/// A uniqueness rule of the auth tables, as each backend names it in its errors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unique {
    /// `users.email_key`.
    UserEmail,
    /// `users.name_key`.
    UserName,
    /// `tenants (user_id, name)`.
    TenantName,
    /// `tenants.uuid`.
    TenantId,
}

impl Unique {
    /// The column SQLite's message names.
    fn sqlite_column(self) -> &'static str {
        match self {
            Unique::UserEmail => "users.email_key",
            Unique::UserName => "users.name_key",
            Unique::TenantName => "tenants.name",
            Unique::TenantId => "tenants.uuid",
        }
    }

    /// The constraint (or unique index) PostgreSQL reports, as `schema::POSTGRES` names it.
    fn postgres_constraint(self) -> &'static str {
        match self {
            Unique::UserEmail => "users_email_key",
            Unique::UserName => "users_name_key",
            Unique::TenantName => "tenants_user_id_name_key",
            Unique::TenantId => "tenants_pkey",
        }
    }
}

/// Whether `error` is a violation of the uniqueness rule `rule`.
pub(crate) fn violates(error: &sqlx::Error, rule: Unique) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    db.is_unique_violation()
        && match db.constraint() {
            Some(constraint) => constraint == rule.postgres_constraint(),
            None => db.message().contains(rule.sqlite_column()),
        }
}
