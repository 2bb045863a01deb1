//! One file per command group; each prints its result on standard output and hints and
//! sync notes on standard error.
#![allow(clippy::print_stdout, reason = "a CLI prints its results")]

mod account;
mod group;
mod status;
mod sync;
mod tenant;
mod user;
mod watch;

use std::time::Duration;

use sync_client::Client;
use sync_core::TenantId;

use super::api::Api;
use super::args::{AccountCommand, Args, Command, GroupCommand, TenantCommand};
use super::error::Result;
use super::profile::Profile;
use super::replica;

/// The server used when neither `--server` nor a login names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

/// What every command works with.
pub(crate) struct Context {
    /// The server's base URL, without a trailing slash.
    pub(crate) server: String,
    pub(crate) profile: Profile,
    /// The bound of each request and of the sync after a change.
    pub(crate) timeout: Duration,
    /// `--json`: `status` and the lists print JSON.
    pub(crate) json: bool,
}

impl Context {
    /// The server is `--server`, else the one of the last login, else the default.
    pub(crate) fn new(args: &Args, profile: Profile) -> Result<Context> {
        let server = args
            .server
            .clone()
            .or_else(|| profile.saved.server.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        // Checked here, so a bad URL is reported before anything is done.
        replica::sync_url(&server, "check")?;
        Ok(Context {
            server: server.trim().trim_end_matches('/').to_owned(),
            profile,
            timeout: args.timeout,
            json: args.json,
        })
    }

    /// A client of the HTTP API, with the session token when logged in.
    pub(crate) fn api(&self) -> Result<Api> {
        Api::new(
            &self.server,
            self.profile.saved.token.as_deref(),
            self.timeout,
        )
    }

    /// Opens the current tenant's replica.
    pub(crate) async fn replica(&self) -> Result<(Client, TenantId)> {
        replica::open(&self.profile, &self.server, self.timeout).await
    }

    /// The short sync after a command; see [`replica::sync_and_report`].
    pub(crate) async fn sync_after(
        &mut self,
        client: &Client,
        tenant: &TenantId,
        quiet: bool,
    ) -> Result<()> {
        replica::sync_and_report(client, &mut self.profile, tenant, self.timeout, quiet).await
    }
}

/// Prints `value` as pretty JSON on standard output.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Closes `client` whatever `result` is, and returns `result` (or the close's error).
pub(crate) async fn finish<T>(client: Client, result: Result<T>) -> Result<T> {
    let closed = client.close().await;
    let value = result?;
    closed?;
    Ok(value)
}

/// Runs `command`.
pub(crate) async fn dispatch(mut context: Context, command: Command) -> Result<()> {
    let context = &mut context;
    match command {
        Command::Register {
            name,
            email,
            password,
        } => user::register(context, &name, &email, password).await,
        Command::Login { user, password } => user::login(context, &user, password).await,
        Command::Logout => user::logout(context),
        Command::Tenant { command } => match command {
            TenantCommand::Create { name } => tenant::create(context, &name).await,
            TenantCommand::List => tenant::list(context).await,
            TenantCommand::Use { tenant } => tenant::select(context, &tenant).await,
        },
        Command::Account { command } => match command {
            AccountCommand::Add {
                name,
                group,
                account_type,
                balance,
                iban,
            } => {
                let new = account::New {
                    name,
                    group,
                    account_type,
                    balance,
                    iban,
                };
                account::add(context, new).await
            }
            AccountCommand::Edit {
                id,
                name,
                balance,
                account_type,
                group,
            } => {
                let edit = account::Edit {
                    name,
                    balance,
                    account_type,
                    group,
                };
                account::edit(context, &id, edit).await
            }
            AccountCommand::Delete { id } => account::delete(context, &id).await,
            AccountCommand::List => account::list(context).await,
        },
        Command::Group { command } => match command {
            GroupCommand::Add { name, sort } => group::add(context, &name, sort).await,
            GroupCommand::List => group::list(context).await,
        },
        Command::Sync { max_wait, accounts } => sync::run(context, max_wait, accounts).await,
        Command::Status => status::run(context).await,
        Command::Watch => watch::run(context).await,
    }
}
