//! The CLI's error type: every way a command can fail, each a one-line message.

use std::path::PathBuf;

/// Why a command failed. The binary prints the message and exits with
/// [`exit_code`](Error::exit_code): 2 for a usage error (as for clap's own), 1 otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No session token in the profile; nothing was done.
    #[error("not logged in: run `finwise-cli login`")]
    NotLoggedIn,
    /// The server no longer accepts the stored token (it expired, or the server's secret
    /// changed); nothing was done on the server.
    #[error("the server refused the login ({0}): run `finwise-cli login` again")]
    LoginRefused(String),
    /// No current tenant in the profile.
    #[error("no tenant selected: run `finwise-cli tenant use ID|NAME` (or `tenant create NAME`)")]
    NoTenant,
    /// The server could not be reached; nothing was done on the server.
    #[error("cannot reach the server at {server}: {reason}")]
    Unreachable {
        /// The server's URL.
        server: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error.
    #[error("the server refused: {detail} ({status})")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's `detail`, or the body.
        detail: String,
    },
    /// Something named on the command line does not exist.
    #[error("no {what} {query:?}{hint}")]
    NotFound {
        /// What was looked for, e.g. `account`.
        what: &'static str,
        /// What was given.
        query: String,
        /// How to find the right one, starting with `: ` (or empty).
        hint: &'static str,
    },
    /// An id prefix matches more than one entity.
    #[error("{query:?} matches {count} {what}s: give more of the id")]
    Ambiguous {
        /// What was looked for.
        what: &'static str,
        /// What was given.
        query: String,
        /// How many match.
        count: usize,
    },
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// A sync did not complete (`finwise-cli sync`); local changes stay queued.
    #[error("{0}")]
    NotSynced(String),
    /// The local replica failed.
    #[error("local replica: {0}")]
    Replica(#[from] sync_client::Error),
    /// A profile file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The profile file is not valid JSON of the expected shape.
    #[error("the profile {path} is damaged ({detail}): fix or delete it and log in again")]
    Profile {
        /// The file.
        path: PathBuf,
        /// serde's message.
        detail: String,
    },
}

impl Error {
    /// The process's exit status for this error: 2 for [`Error::Usage`] (the command line
    /// asks for something that cannot be done, as for the mistakes clap reports), 1 for
    /// every failure of doing what it asked.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
