//! `sync`: catch up with the server and send every local change, showing a progress bar
//! on a terminal, then a summary.

use std::cell::Cell;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sync_client::Client;
use sync_client::event::{Event, Source};
use sync_client::status::Status;
use sync_core::TenantId;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{Context, finish};
use crate::cli::error::{Error, Result};
use crate::cli::replica::{self, Synced, count};
use crate::entities::{Account, PlanningTransaction, Transaction};

/// `sync [--max-wait SECONDS] [--accounts A,B]`.
pub(super) async fn run(
    context: &mut Context,
    max_wait: Duration,
    accounts: Option<Vec<String>>,
) -> Result<()> {
    let (client, tenant) = context.replica().await?;
    if let Err(error) = follow_role(context, &client, &tenant).await {
        return finish(client, Err(error)).await;
    }
    let result = match accounts {
        Some(accounts) => match keep_accounts(&client, &accounts).await {
            Ok(()) => sync(context, &client, &tenant, max_wait).await,
            Err(error) => Err(error),
        },
        None => sync(context, &client, &tenant, max_wait).await,
    };
    finish(client, result).await
}

/// The stream that gives a `member` the accounts of its account groups.
const ACCOUNTS_OF_MEMBER: &str = "accounts_by_group";

/// A `member` of the tenant receives only its account groups' accounts, and only through
/// `accounts_by_group`: the replica subscribes to it once the server lists the user as a
/// `member` (every other role receives the accounts whole). Offline, nothing changes.
async fn follow_role(context: &Context, client: &Client, tenant: &TenantId) -> Result<()> {
    let Ok(user) = context.profile.user() else {
        return Ok(());
    };
    let tenants = match context.api()?.tenants(&user.uuid).await {
        Ok(tenants) => tenants,
        Err(Error::Unreachable { .. }) => return Ok(()),
        Err(error) => return Err(error),
    };
    let member = tenants
        .iter()
        .any(|listed| listed.uuid == tenant.as_str() && listed.role.as_deref() == Some("member"));
    let subscribed = client
        .subscriptions()
        .await?
        .iter()
        .any(|held| held.stream == ACCOUNTS_OF_MEMBER);
    if member && !subscribed {
        client
            .subscribe::<Account>(ACCOUNTS_OF_MEMBER, Vec::<String>::new())
            .await?;
        eprintln!("a member of this tenant: keeping the accounts of its account groups");
    }
    Ok(())
}

/// The streams that partition by account, and their entities.
const BY_ACCOUNT: [&str; 2] = [
    "transactions_by_account",
    "planning_transactions_by_account",
];

/// Subscribes the replica to the transactions and planned transactions of `accounts`
/// (names or ids; one not in the replica yet is taken as an id), replacing the accounts
/// kept before. The new subscriptions start before the old ones end, so the transactions
/// of accounts kept in both never leave the replica.
async fn keep_accounts(client: &Client, accounts: &[String]) -> Result<()> {
    let mut ids = Vec::new();
    let mut shown = Vec::new();
    for query in accounts
        .iter()
        .map(|query| query.trim())
        .filter(|query| !query.is_empty())
    {
        match super::account::find_account(client, query).await {
            Ok(account) => {
                shown.push(format!("{} ({})", account.name, account.id));
                ids.push(account.id);
            }
            Err(Error::NotFound { .. }) => {
                shown.push(format!("{query} (not in the replica yet)"));
                ids.push(query.to_owned());
            }
            Err(error) => return Err(error),
        }
    }
    if ids.is_empty() {
        return Err(Error::Usage(
            "--accounts needs at least one account name or id".to_owned(),
        ));
    }
    let before = client.subscriptions().await?;
    client
        .subscribe::<Transaction>(BY_ACCOUNT[0], ids.clone())
        .await?;
    client
        .subscribe::<PlanningTransaction>(BY_ACCOUNT[1], ids)
        .await?;
    for old in before
        .iter()
        .filter(|old| BY_ACCOUNT.contains(&old.stream.as_str()))
    {
        client.unsubscribe(&old.id, Duration::ZERO).await?;
    }
    println!(
        "keeping the transactions of {} on this device",
        shown.join(", ")
    );
    Ok(())
}

async fn sync(
    context: &mut Context,
    client: &Client,
    tenant: &TenantId,
    max_wait: Duration,
) -> Result<()> {
    let mut status = client.status();
    let mut events = client.events();
    let start = client.cursor().await?;
    let waiting_before = waiting(&status.borrow());
    let progress = Progress::new(start);
    let mut received = 0_u64;
    let mut following = true;
    let synced = {
        let sync = replica::sync(client, &mut context.profile, tenant, max_wait);
        tokio::pin!(sync);
        loop {
            tokio::select! {
                synced = &mut sync => break synced?,
                changed = status.changed(), if following => {
                    if changed.is_err() {
                        following = false;
                    }
                }
                event = events.recv(), if following => match event {
                    Ok(event) => received += remote(&event),
                    Err(RecvError::Lagged(missed)) => received += missed,
                    Err(RecvError::Closed) => following = false,
                },
            }
            progress.show(&status.borrow_and_update(), received);
        }
    };
    // The last page's events may still wait in the channel.
    loop {
        match events.try_recv() {
            Ok(event) => received += remote(&event),
            Err(TryRecvError::Lagged(missed)) => received += missed,
            Err(_) => break,
        }
    }
    progress.finish();
    let now = status.borrow().clone();
    let label = context.profile.tenant_label(tenant.as_str());
    match synced {
        Synced::Done => {
            let sent = waiting_before.saturating_sub(waiting(&now));
            println!(
                "synced tenant {label}: received {}, sent {}; cursor {}; {} pending, {} failed",
                count(received, "change"),
                count(sent, "change"),
                now.cursor,
                now.pending + now.processing,
                now.failed
            );
            for entry in client.failed().await? {
                println!(
                    "  failed: {} {} {}: {}",
                    entry.operation.as_str(),
                    entry.entity_type,
                    entry.entity_id,
                    reason(entry.reason.as_deref(), entry.detail.as_deref())
                );
            }
            Ok(())
        }
        Synced::Not(why) => Err(Error::NotSynced(format!(
            "not synced ({why}): {} waiting to be sent",
            count(waiting(&now), "change")
        ))),
    }
}

/// 1 for a change from the server, else 0.
fn remote(event: &Event) -> u64 {
    match event {
        Event::Changed(changed) if changed.source == Source::Remote => 1,
        _ => 0,
    }
}

/// Changes waiting to be sent or answered.
fn waiting(status: &Status) -> u64 {
    status.pending + status.processing
}

/// "validation_error: balance: missing field".
pub(super) fn reason(reason: Option<&str>, detail: Option<&str>) -> String {
    match (reason, detail) {
        (Some(reason), Some(detail)) => format!("{reason}: {detail}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => "no reason given".to_owned(),
    }
}

/// The progress display: a spinner counting the changes received, which becomes a bar
/// from the replica's cursor to the server's once the connection's `welcome` has said
/// where the server's feed ends (`Status::server_cursor`). Hidden when standard error is
/// not a terminal.
struct Progress {
    bar: ProgressBar,
    start: u64,
    /// The server's cursor, once known and ahead of the replica's.
    target: Cell<Option<u64>>,
}

impl Progress {
    fn new(start: u64) -> Progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(style("{spinner} {msg}"));
        bar.enable_steady_tick(Duration::from_millis(100));
        let progress = Progress {
            bar,
            start,
            target: Cell::new(None),
        };
        progress.show(&Status::default(), 0);
        progress
    }

    fn show(&self, status: &Status, received: u64) {
        if self.target.get().is_none()
            && let Some(target) = status.server_cursor.filter(|target| *target > self.start)
        {
            self.target.set(Some(target));
            self.bar.set_length(target - self.start);
            self.bar.set_style(style(
                "{spinner} catching up [{bar:30}] {pos}/{len} changes, {eta} left {msg}",
            ));
        }
        let sending = waiting(status);
        let sending = if sending > 0 {
            format!("{} to send", count(sending, "change"))
        } else {
            String::new()
        };
        match self.target.get() {
            Some(target) => {
                let done = status.cursor.saturating_sub(self.start).max(received);
                self.bar.set_position(done.min(target - self.start));
                self.bar.set_message(sending);
            }
            None => self.bar.set_message(format!(
                "syncing: {} received {sending}",
                count(received, "change")
            )),
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
