//! The crate's error type.

use std::path::PathBuf;

use crate::entity::DecodeError;
use crate::tenant::InvalidTenantId;

/// Everything that can go wrong in `sync-core` outside of a single change's outcome
/// (those are [`Rejection`](crate::outcome::Rejection)s, answered to the client).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant id failed validation; nothing was opened or created.
    #[error(transparent)]
    InvalidTenant(#[from] InvalidTenantId),
    /// Two registered entities share a name, collection or table.
    #[error("{what} {name:?} is registered twice")]
    DuplicateEntity {
        /// Which kind of name collided.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// An entity's metadata holds a name that is not a safe SQL identifier.
    #[error(
        "invalid {what}: {name:?}; use a letter or '_' then letters, digits and '_', not starting with \"_sync\""
    )]
    InvalidIdentifier {
        /// Where the name occurs.
        what: String,
        /// The name.
        name: String,
    },
    /// The database holds a schema the registered entities cannot safely use; the store
    /// refused to open the tenant and changed nothing.
    #[error("unsafe schema change in table {table:?}, column {column:?}: {problem}; {fix}")]
    Schema {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What differs.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A stored row does not decode into its entity.
    #[error("stored row {id:?} of table {table:?} is unreadable: {source}")]
    Decode {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: String,
        /// What failed.
        source: DecodeError,
    },
    /// The database failed; the operation had no effect.
    #[error("database error: {0}")]
    Database(#[from] DatabaseError),
    /// A tenant database was closed (its tenant deleted) or its writer thread failed while
    /// the operation waited; it had no effect. Retrying opens the database again.
    #[error("the tenant database is unavailable: {0}")]
    Unavailable(String),
    /// The database at `url` (password masked) could not be reached or refused the
    /// connection; nothing was created.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The database URL, with its password masked.
        url: String,
        /// What failed.
        source: DatabaseError,
    },
    /// A file system operation failed.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The bus between server nodes failed; committed changes are safe in the store and
    /// reach the other nodes by catch-up.
    #[error("bus error: {0}")]
    Bus(String),
    /// The store cannot do what was asked (e.g. a wrapper store that does not serve
    /// streams); nothing happened.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// What a caller can do about a [`DatabaseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseErrorKind {
    /// The database could not be reached in time (refused, closed, timed out, pool
    /// exhausted): trying again later may succeed.
    Unavailable,
    /// The database refused the statement (a constraint, a type, a permission).
    Refused,
    /// A stored value did not decode.
    Corrupt,
    /// Anything else.
    Other,
}

/// A failure of the database driver, kept opaque so that the driver's types stay out of
/// this crate's API: [`kind`](DatabaseError::kind) says what to do about it, and
/// [`source`](std::error::Error::source) keeps the driver's own error for logs.
#[derive(Debug)]
pub struct DatabaseError {
    kind: DatabaseErrorKind,
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl DatabaseError {
    /// A database error of `kind`, caused by `source`.
    pub fn new(
        kind: DatabaseErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> DatabaseError {
        DatabaseError {
            kind,
            source: source.into(),
        }
    }

    /// What a caller can do about it.
    pub fn kind(&self) -> DatabaseErrorKind {
        self.kind
    }

    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == DatabaseErrorKind::Unavailable
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(formatter)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl DatabaseErrorKind {
    /// What a caller can do about `error`, for code that keeps its own sqlx pools beside
    /// a store (an application's user database) and answers their errors the same way.
    pub fn of(error: &sqlx::Error) -> DatabaseErrorKind {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DatabaseErrorKind::Unavailable,
            sqlx::Error::Database(database) => refused_or_unavailable(database.as_ref()),
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => DatabaseErrorKind::Corrupt,
            _ => DatabaseErrorKind::Other,
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for DatabaseError {
    fn from(error: sqlx::Error) -> DatabaseError {
        DatabaseError::new(DatabaseErrorKind::of(&error), error)
    }
}

/// What a database's own error means for the caller: most refuse the statement, but some
/// say the database could not serve it now (SQLite could not open its file or was busy,
/// PostgreSQL lacks resources or is starting), and retrying later may succeed.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn refused_or_unavailable(database: &dyn sqlx::error::DatabaseError) -> DatabaseErrorKind {
    #[cfg(feature = "sqlite")]
    if database
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return database
            .code()
            .and_then(|code| code.parse::<std::os::raw::c_int>().ok())
            .map_or(DatabaseErrorKind::Refused, |code| {
                sqlite_kind(rusqlite::ffi::Error::new(code).code)
            });
    }
    #[cfg(feature = "postgres")]
    if let Some(postgres) = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let state = postgres.code();
        // Class 53 insufficient resources, class 08 connection exceptions, 57P03 cannot
        // connect now (starting or shutting down).
        if state.starts_with("53") || state.starts_with("08") || state == "57P03" {
            return DatabaseErrorKind::Unavailable;
        }
    }
    DatabaseErrorKind::Refused
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Error {
        Error::Database(error.into())
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for DatabaseError {
    fn from(error: rusqlite::Error) -> DatabaseError {
        let kind = match &error {
            rusqlite::Error::SqliteFailure(failure, _) => sqlite_kind(failure.code),
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..) => DatabaseErrorKind::Corrupt,
            _ => DatabaseErrorKind::Other,
        };
        DatabaseError::new(kind, error)
    }
}

/// What SQLite's result code means for the caller, whichever driver (sqlx for reads,
/// rusqlite for the writer) reported it.
#[cfg(feature = "sqlite")]
fn sqlite_kind(code: rusqlite::ErrorCode) -> DatabaseErrorKind {
    match code {
        rusqlite::ErrorCode::DatabaseBusy
        | rusqlite::ErrorCode::DatabaseLocked
        | rusqlite::ErrorCode::CannotOpen
        | rusqlite::ErrorCode::SystemIoFailure
        | rusqlite::ErrorCode::DiskFull => DatabaseErrorKind::Unavailable,
        rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
            DatabaseErrorKind::Corrupt
        }
        _ => DatabaseErrorKind::Refused,
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Error {
        Error::Database(error.into())
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use sqlx::ConnectOptions;

    use super::*;

    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_opened_is_unavailable_not_refused() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("no such directory").join("tenant.db");
        let error = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&missing)
            .create_if_missing(true)
            .connect()
            .await
            .expect_err("a file in a missing directory cannot be opened");
        assert!(
            matches!(error, sqlx::Error::Database(_)),
            "SQLite reports it as its own error (CANTOPEN): {error:?}"
        );
        let error = Error::from(error);
        let Error::Database(database) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(database.kind(), DatabaseErrorKind::Unavailable, "{error}");
    }

    #[tokio::test]
    async fn a_statement_sqlite_refuses_stays_refused() {
        let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
            .in_memory(true)
            .connect()
            .await
            .unwrap();
        let error = sqlx::query("SELECT * FROM no_such_table")
            .execute(&mut connection)
            .await
            .expect_err("no such table");
        let Error::Database(database) = Error::from(error) else {
            panic!("a database error");
        };
        assert_eq!(database.kind(), DatabaseErrorKind::Refused);
    }
}
