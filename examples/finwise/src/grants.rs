//! Account groups for members: the owner gives a member of the role `member` some account
//! groups, and the member sees and writes the transactions and planned transactions of
//! those groups' accounts only (docs/partial-sync.md, "FinWise").
//!
//! The streams `transactions_by_account` and `planning_transactions_by_account` go one
//! hop from the principal, through [`AccountGrant`]'s account rows. A group → account →
//! transaction path would be two hops, which a stream may not take (its cost would not be
//! bounded by its declaration), so the server keeps the account rows itself: from the
//! group rows and the accounts, when the owner sets a member's groups, and after every
//! commit of an account (created, moved to another group, deleted).
//!
//! One task per server does all of it, in order: a set of groups and an account's commit
//! never interleave, so the rows always end in step with the last of them. Each step is
//! one batch through the engine, as the server's own code, so the member's sessions are
//! re-resolved once per step: buckets gained arrive as snapshots, lost ones as
//! `bucket_removed` (reason `revoked`).

use std::collections::BTreeSet;

use sync_core::change::{Change, TypedChange};
use sync_core::engine::Engine;
use sync_core::entity::{Actor, Proposed, Rules};
use sync_core::store::AnyStore;
use sync_core::{Syncable, TenantId};
use tokio::sync::{mpsc, oneshot};

use crate::db::Role;
use crate::entities::{Account, AccountGrant};

/// The jobs queued at most: account commits beyond it are dropped with a warning, as the
/// engine's own after-commit queue does, and caught up by the next set of that member's
/// groups.
const QUEUE: usize = 10_000;

enum Job {
    /// An account was committed: bring its account rows in step.
    Account {
        tenant: TenantId,
        account_id: String,
    },
    /// The owner set a member's groups.
    SetGroups {
        tenant: TenantId,
        member: String,
        groups: Vec<String>,
        done: oneshot::Sender<Result<Vec<String>, String>>,
    },
}

/// The handle that queues work for the task: cheap to clone.
#[derive(Clone, Debug)]
pub struct Keeper {
    jobs: mpsc::Sender<Job>,
}

/// The task's end of the queue, until [`Pending::start`] gives it the engine.
pub struct Pending {
    jobs: mpsc::Receiver<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Account { tenant, account_id } => write!(f, "account {tenant}/{account_id}"),
            Job::SetGroups { tenant, member, .. } => write!(f, "groups of {tenant}/{member}"),
        }
    }
}

/// A new keeper and its task's queue.
pub fn keeper() -> (Keeper, Pending) {
    let (jobs, receiver) = mpsc::channel(QUEUE);
    (Keeper { jobs }, Pending { jobs: receiver })
}

impl Pending {
    /// Runs the task over `engine`, until every [`Keeper`] is dropped.
    pub fn start(self, engine: Engine<AnyStore>) {
        let mut jobs = self.jobs;
        tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                match job {
                    Job::Account { tenant, account_id } => {
                        if let Err(error) = account_changed(&engine, &tenant, &account_id).await {
                            tracing::error!(%tenant, %account_id, %error, "could not bring the account's grants in step");
                        }
                    }
                    Job::SetGroups {
                        tenant,
                        member,
                        groups,
                        done,
                    } => {
                        let result = set_groups(&engine, &tenant, &member, &groups).await;
                        let _ = done.send(result);
                    }
                }
            }
        });
    }
}

impl Keeper {
    /// Gives `member` of `tenant` exactly the account groups `groups` (none: no transaction
    /// at all), and answers with the accounts that gives, sorted.
    pub async fn set_groups(
        &self,
        tenant: &TenantId,
        member: &str,
        groups: Vec<String>,
    ) -> Result<Vec<String>, String> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job::SetGroups {
                tenant: tenant.clone(),
                member: member.to_owned(),
                groups,
                done,
            })
            .await
            .map_err(|_| "the grants task has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the grants task has stopped".to_owned())?
    }
}

/// The account groups `member` of `tenant` was given, sorted.
pub async fn groups(
    engine: &Engine<AnyStore>,
    tenant: &TenantId,
    member: &str,
) -> Result<Vec<String>, String> {
    let grants = engine
        .list::<AccountGrant>(tenant)
        .await
        .map_err(|error| error.to_string())?;
    Ok(grants
        .into_iter()
        .filter(|grant| grant.user_id == member && grant.account_id.is_none())
        .map(|grant| grant.account_group_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// A member may not change accounts: moving one into a group of its own would give it
/// that account's transactions. After each commit of an account, its account rows are
/// brought in step (queued, never holding up the writer).
impl Rules<Account> for Keeper {
    fn authorize(
        &self,
        actor: &Actor,
        _: &TenantId,
        _: &Proposed<'_, Account>,
    ) -> Result<(), String> {
        if actor.role() == Some(Role::Member.as_str()) {
            Err("a member does not change accounts: the owner or an editor does".to_owned())
        } else {
            Ok(())
        }
    }

    fn after_commit(&self, tenant: &TenantId, committed: &TypedChange<Account>) {
        let account_id = match committed {
            TypedChange::Upsert { entity, .. } => entity.id.clone(),
            TypedChange::Delete { id, .. } => id.clone(),
        };
        if self
            .jobs
            .try_send(Job::Account {
                tenant: tenant.clone(),
                account_id: account_id.clone(),
            })
            .is_err()
        {
            tracing::warn!(%tenant, %account_id, "grants queue full: the account's grants follow at the next set of its members' groups");
        }
    }
}

/// Makes `account_id`'s account rows those the group rows ask for.
async fn account_changed(
    engine: &Engine<AnyStore>,
    tenant: &TenantId,
    account_id: &str,
) -> Result<(), String> {
    let grants = list::<AccountGrant>(engine, tenant).await?;
    let group = engine
        .get::<Account>(tenant, account_id)
        .await
        .map_err(|error| error.to_string())?
        .map(|account| account.account_group_id);
    let wanted: Vec<AccountGrant> = grants
        .iter()
        .filter(|grant| {
            grant.account_id.is_none() && Some(&grant.account_group_id) == group.as_ref()
        })
        .map(|grant| AccountGrant::account(&grant.user_id, &grant.account_group_id, account_id))
        .collect();
    let held = grants
        .iter()
        .filter(|grant| grant.account_id.as_deref() == Some(account_id));
    apply(engine, tenant, diff(held, wanted)?).await
}

/// Makes `member`'s rows exactly the group rows of `groups` and the account rows of their
/// accounts; answers with those accounts.
async fn set_groups(
    engine: &Engine<AnyStore>,
    tenant: &TenantId,
    member: &str,
    groups: &[String],
) -> Result<Vec<String>, String> {
    let grants = list::<AccountGrant>(engine, tenant).await?;
    let accounts = list::<Account>(engine, tenant).await?;
    let groups: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
    let mut wanted: Vec<AccountGrant> = groups
        .iter()
        .map(|group| AccountGrant::group(member, group))
        .collect();
    let mut given: Vec<String> = Vec::new();
    for account in &accounts {
        if groups.contains(account.account_group_id.as_str()) {
            wanted.push(AccountGrant::account(
                member,
                &account.account_group_id,
                &account.id,
            ));
            given.push(account.id.clone());
        }
    }
    given.sort();
    let held = grants.iter().filter(|grant| grant.user_id == member);
    apply(engine, tenant, diff(held, wanted)?).await?;
    Ok(given)
}

/// The changes that turn the rows `held` into `wanted`: a put of each wanted row not held,
/// a delete of each held row not wanted. Rows held as wanted are left alone.
fn diff<'a>(
    held: impl Iterator<Item = &'a AccountGrant>,
    wanted: Vec<AccountGrant>,
) -> Result<Vec<Change>, String> {
    let held: Vec<&AccountGrant> = held.collect();
    let mut changes = Vec::new();
    for grant in &wanted {
        if !held.iter().any(|row| same(row, grant)) {
            changes.push(Change::upsert(grant).map_err(|error| error.to_string())?);
        }
    }
    for row in held {
        if !wanted.iter().any(|grant| same(row, grant)) {
            changes.push(Change::delete(AccountGrant::ENTITY, row.id.clone()));
        }
    }
    Ok(changes)
}

fn same(left: &AccountGrant, right: &AccountGrant) -> bool {
    (
        &left.id,
        &left.user_id,
        &left.account_group_id,
        &left.account_id,
    ) == (
        &right.id,
        &right.user_id,
        &right.account_group_id,
        &right.account_id,
    )
}

/// Commits `changes` in one batch, as the server: every one must apply.
async fn apply(
    engine: &Engine<AnyStore>,
    tenant: &TenantId,
    changes: Vec<Change>,
) -> Result<(), String> {
    if changes.is_empty() {
        return Ok(());
    }
    let batch = engine
        .submit(tenant, None, changes)
        .await
        .map_err(|error| error.to_string())?;
    match batch
        .outcomes
        .iter()
        .find(|outcome| !matches!(outcome, sync_core::outcome::Outcome::Applied { .. }))
    {
        Some(outcome) => Err(format!("a grant was not applied: {outcome:?}")),
        None => Ok(()),
    }
}

async fn list<T: Syncable>(engine: &Engine<AnyStore>, tenant: &TenantId) -> Result<Vec<T>, String> {
    engine
        .list::<T>(tenant)
        .await
        .map_err(|error| error.to_string())
}
