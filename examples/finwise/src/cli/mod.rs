//! `finwise-cli`: a command-line client of the FinWise server, offline first.
//!
//! Accounts and groups are read and written in a local replica of the current tenant
//! (one SQLite file per tenant in the profile directory) through `sync-client`, so every
//! such command works without the server; after a change the command syncs for a few
//! seconds, and when the server cannot be reached it says how many changes wait to be
//! sent. Registering, logging in and managing tenants talk to the server's HTTP API.
//!
//! ```text
//! finwise-cli register --name anna --email anna@example.com
//! finwise-cli login anna
//! finwise-cli tenant create Household && finwise-cli tenant use Household
//! finwise-cli group add Banks
//! finwise-cli account add --name Giro --group Banks --type giro --balance 120.50
//! finwise-cli account list
//! finwise-cli sync
//! ```
//!
//! The binary is `src/bin/finwise-cli.rs`; it parses [`Args`] and calls [`run`]. The
//! server URL of the sync socket is derived from the HTTP one:
//!
//! ```
//! use finwise::cli::sync_url;
//!
//! assert_eq!(
//!     sync_url("https://finwise.example.com/", "household").unwrap(),
//!     "wss://finwise.example.com/ws_finwise/ws/household"
//! );
//! assert!(sync_url("ftp://example.com", "household").is_err());
//! ```

mod api;
mod args;
mod commands;
mod error;
mod lookup;
mod profile;
mod replica;
mod table;

pub use args::{AccountCommand, Args, Command, GroupCommand, TenantCommand};
pub use error::{Error, Result};
pub use replica::sync_url;

use profile::Profile;

/// Runs one command line to its end.
pub async fn run(args: Args) -> Result<()> {
    let profile = Profile::open(args.profile.clone())?;
    let context = commands::Context::new(&args, profile)?;
    commands::dispatch(context, args.command).await
}
