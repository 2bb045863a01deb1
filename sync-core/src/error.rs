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
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite store's write connection failed; the batch or purge had no effect.
    #[cfg(feature = "sqlite")]
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A tenant database was closed (its tenant deleted) or its writer thread failed while
    /// the operation waited; it had no effect. Retrying opens the database again.
    #[error("the tenant database is unavailable: {0}")]
    Unavailable(String),
    /// The database at `url` (password masked) could not be reached or refused the
    /// connection; nothing was created.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The database URL, with its password masked.
        url: String,
        /// What failed.
        source: sqlx::Error,
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

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
