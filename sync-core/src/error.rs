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
impl From<sqlx::Error> for DatabaseError {
    fn from(error: sqlx::Error) -> DatabaseError {
        let kind = match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DatabaseErrorKind::Unavailable,
            sqlx::Error::Database(_) => DatabaseErrorKind::Refused,
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => DatabaseErrorKind::Corrupt,
            _ => DatabaseErrorKind::Other,
        };
        DatabaseError::new(kind, error)
    }
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
            rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
                rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::DiskFull => DatabaseErrorKind::Unavailable,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
                    DatabaseErrorKind::Corrupt
                }
                _ => DatabaseErrorKind::Refused,
            },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..) => DatabaseErrorKind::Corrupt,
            _ => DatabaseErrorKind::Other,
        };
        DatabaseError::new(kind, error)
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
