//! The command line, as clap derives it: global options and one subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::entities::AccountType;

/// A command-line client of the FinWise server. Accounts and groups live in a local
/// replica of the current tenant and sync with the server whenever it can be reached.
#[derive(Debug, Parser)]
#[command(name = "finwise-cli", version, propagate_version = true)]
pub struct Args {
    /// The FinWise server. Default: the server of the last login, else
    /// http://127.0.0.1:8000.
    #[arg(long, env = "FINWISE_SERVER", global = true, value_name = "URL")]
    pub server: Option<String>,
    /// The profile directory: login, current tenant and one replica per tenant.
    /// Default: $XDG_CONFIG_HOME/finwise-cli, else ~/.config/finwise-cli.
    #[arg(long, env = "FINWISE_PROFILE", global = true, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// How long to wait for the server, in seconds: for each HTTP request, and for the
    /// sync that follows a local change.
    #[arg(
        long,
        env = "FINWISE_TIMEOUT",
        global = true,
        value_name = "SECONDS",
        default_value = "5",
        value_parser = parse_seconds
    )]
    pub timeout: Duration,
    /// Print the result of `status` and of the list commands as JSON (one document on
    /// standard output), for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a user on the server.
    Register {
        /// The user name.
        #[arg(long)]
        name: String,
        /// The email address.
        #[arg(long)]
        email: String,
        /// The password. Default: read from the first line of standard input.
        #[arg(long, env = "FINWISE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Log in and keep the session token in the profile.
    Login {
        /// The user name or email address.
        user: String,
        /// The password. Default: read from the first line of standard input.
        #[arg(long, env = "FINWISE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Forget the session token; the replicas stay.
    Logout,
    /// Create, list and select tenants (households).
    Tenant {
        /// What to do with tenants.
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Add, edit, delete and list the current tenant's accounts.
    Account {
        /// What to do with accounts.
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Add and list the current tenant's account groups.
    Group {
        /// What to do with groups.
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Catch up with the server and send every local change, with a progress bar.
    Sync {
        /// Give up after this many seconds (the sync goes on at the next command).
        #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
        max_wait: Duration,
        /// Keep only these accounts' transactions and planned transactions on this device
        /// (names or ids, comma-separated); everything else stays whole. Remembered: later
        /// syncs keep the same accounts until another `--accounts`.
        #[arg(long, value_name = "ACCOUNTS", value_delimiter = ',')]
        accounts: Option<Vec<String>>,
    },
    /// Show the login, the tenant, the connection and the changes waiting to be sent.
    Status,
    /// Stay connected and print every change of the tenant as it happens, until Ctrl-C.
    Watch,
}

/// `tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant on the server.
    Create {
        /// Its name, unique among your tenants.
        name: String,
    },
    /// List your tenants; `*` marks the current one.
    List,
    /// Make a tenant the current one, by id or name.
    Use {
        /// The tenant's id or name (offline only an id is accepted).
        tenant: String,
    },
}

/// `account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Add an account.
    Add {
        /// Its name.
        #[arg(long)]
        name: String,
        /// The group it is listed under: an id, an id prefix or a name.
        #[arg(long)]
        group: String,
        /// The kind of account: giro, tagesgeld, festgeld, spar, kreditkarte, depot,
        /// bauspar, darlehen, geschaeft, gemeinschaft, fremdwaehrung, virtuell, bar or
        /// sonstiges.
        #[arg(long = "type", value_name = "TYPE", default_value = "giro", value_parser = parse_account_type)]
        account_type: AccountType,
        /// The current balance.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        balance: f64,
        /// The IBAN.
        #[arg(long)]
        iban: Option<String>,
    },
    /// Change an account's fields.
    Edit {
        /// The account: an id or an id prefix.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new balance.
        #[arg(long, allow_negative_numbers = true)]
        balance: Option<f64>,
        /// A new kind of account.
        #[arg(long = "type", value_name = "TYPE", value_parser = parse_account_type)]
        account_type: Option<AccountType>,
        /// Another group: an id, an id prefix or a name.
        #[arg(long)]
        group: Option<String>,
    },
    /// Delete an account.
    Delete {
        /// The account: an id or an id prefix.
        id: String,
    },
    /// List the accounts: id, name, type, balance, group.
    List,
}

/// `group …`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Add an account group.
    Add {
        /// Its name.
        name: String,
        /// Its position among the groups. Default: after the last one.
        #[arg(long, allow_negative_numbers = true)]
        sort: Option<i32>,
    },
    /// List the account groups.
    List,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

fn parse_account_type(text: &str) -> Result<AccountType, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        let names: Vec<_> = AccountType::ALL.iter().map(|(_, name)| *name).collect();
        format!("unknown account type; use one of {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn account_types_and_seconds_parse() {
        assert_eq!(parse_account_type("GIRO"), Ok(AccountType::Giro));
        assert!(parse_account_type("bitcoin").unwrap_err().contains("giro"));
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn a_negative_balance_is_a_value() {
        let args = Args::try_parse_from([
            "finwise-cli",
            "account",
            "add",
            "--name",
            "Card",
            "--group",
            "g",
            "--balance",
            "-12.5",
        ])
        .unwrap();
        let Command::Account {
            command: AccountCommand::Add { balance, .. },
        } = args.command
        else {
            panic!("not account add: {args:?}");
        };
        assert_eq!(balance, -12.5);
    }
}
