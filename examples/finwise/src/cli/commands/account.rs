//! `account add`, `account edit`, `account delete`, `account list`: on the local replica,
//! then a short sync.

use std::collections::BTreeMap;

use sync_client::Client;

use super::{Context, finish};
use crate::cli::error::{Error, Result};
use crate::cli::lookup::{self, Kind};
use crate::cli::table::Table;
use crate::entities::{Account, AccountGroup, AccountType};

const ACCOUNT: Kind = Kind {
    what: "account",
    hint: " in the local replica: see `finwise-cli account list`",
};

pub(super) const GROUP: Kind = Kind {
    what: "account group",
    hint: " in the local replica: see `finwise-cli group list` (run `finwise-cli sync` first if it was made elsewhere)",
};

/// The fields of `account add`.
pub(super) struct New {
    pub(super) name: String,
    pub(super) group: String,
    pub(super) account_type: AccountType,
    pub(super) balance: f64,
    pub(super) iban: Option<String>,
}

/// The fields of `account edit`; `None` keeps a field.
pub(super) struct Edit {
    pub(super) name: Option<String>,
    pub(super) balance: Option<f64>,
    pub(super) account_type: Option<AccountType>,
    pub(super) group: Option<String>,
}

/// `account add`: a new active account with a new id, sorted last in its group.
pub(super) async fn add(context: &mut Context, new: New) -> Result<()> {
    let name = non_empty(&new.name)?;
    let (client, tenant) = context.replica().await?;
    let result = async {
        let group = find_group(&client, &new.group).await?;
        let accounts = client.list::<Account>().await?;
        let sort_order = accounts
            .iter()
            .filter(|account| account.account_group_id == group.id)
            .map(|account| account.sort_order.saturating_add(1))
            .max()
            .unwrap_or(0);
        let account = Account {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            description: None,
            note: None,
            account_type: new.account_type,
            is_active: true,
            is_offline_budget: false,
            account_group_id: group.id,
            sort_order,
            iban: new.iban,
            balance: new.balance,
            credit_limit: None,
            offset: 0,
            logo_path: None,
            updated_at: None,
        };
        let stored = client.put(&account).await?;
        println!("added account {} ({})", stored.name, stored.id);
        context.sync_after(&client, &tenant, false).await
    }
    .await;
    finish(client, result).await
}

/// `account edit ID`.
pub(super) async fn edit(context: &mut Context, query: &str, edit: Edit) -> Result<()> {
    if edit.name.is_none()
        && edit.balance.is_none()
        && edit.account_type.is_none()
        && edit.group.is_none()
    {
        return Err(Error::Usage(
            "nothing to change: give --name, --balance, --type or --group".to_owned(),
        ));
    }
    let (client, tenant) = context.replica().await?;
    let result = async {
        let mut account = find_account(&client, query).await?;
        if let Some(name) = &edit.name {
            account.name = non_empty(name)?;
        }
        if let Some(balance) = edit.balance {
            account.balance = balance;
        }
        if let Some(account_type) = edit.account_type {
            account.account_type = account_type;
        }
        if let Some(group) = &edit.group {
            account.account_group_id = find_group(&client, group).await?.id;
        }
        let stored = client.put(&account).await?;
        println!("updated account {} ({})", stored.name, stored.id);
        context.sync_after(&client, &tenant, false).await
    }
    .await;
    finish(client, result).await
}

/// `account delete ID`.
pub(super) async fn delete(context: &mut Context, query: &str) -> Result<()> {
    let (client, tenant) = context.replica().await?;
    let result = async {
        let account = find_account(&client, query).await?;
        client.delete::<Account>(&account.id).await?;
        println!("deleted account {} ({})", account.name, account.id);
        context.sync_after(&client, &tenant, false).await
    }
    .await;
    finish(client, result).await
}

/// `account list`: syncs briefly, then prints the replica's accounts by group.
pub(super) async fn list(context: &mut Context) -> Result<()> {
    let (client, tenant) = context.replica().await?;
    let result = async {
        context.sync_after(&client, &tenant, true).await?;
        let groups: BTreeMap<String, AccountGroup> = client
            .list::<AccountGroup>()
            .await?
            .into_iter()
            .map(|group| (group.id.clone(), group))
            .collect();
        let mut accounts = client.list::<Account>().await?;
        if accounts.is_empty() && !context.json {
            eprintln!(
                "no accounts yet: add one with `finwise-cli account add --name NAME --group GROUP`"
            );
            return Ok(());
        }
        let group_key = |account: &Account| {
            groups
                .get(&account.account_group_id)
                .map_or((i32::MAX, String::new()), |group| {
                    (group.sort_order, group.name.clone())
                })
        };
        accounts.sort_by_cached_key(|account| {
            (group_key(account), account.sort_order, account.name.clone())
        });
        if context.json {
            // The accounts as the server stores them, each with its group's name.
            let accounts = accounts
                .iter()
                .map(|account| {
                    // A struct of plain fields: its serialisation cannot fail.
                    let mut json = serde_json::to_value(account).unwrap_or_default();
                    json["group"] = groups
                        .get(&account.account_group_id)
                        .map(|group| group.name.clone())
                        .into();
                    json
                })
                .collect();
            super::print_json(&serde_json::Value::Array(accounts));
            return Ok(());
        }
        let mut table = Table::new(&["ID", "NAME", "TYPE", "BALANCE", "GROUP"]).right(3);
        for account in &accounts {
            let group = groups
                .get(&account.account_group_id)
                .map_or(account.account_group_id.as_str(), |group| {
                    group.name.as_str()
                });
            table.row(vec![
                account.id.clone(),
                account.name.clone(),
                account.account_type.to_string(),
                format!("{:.2}", account.balance),
                group.to_owned(),
            ]);
        }
        print!("{}", table.render());
        Ok(())
    }
    .await;
    finish(client, result).await
}

/// The group named by `query`: an id, an id prefix or a name.
pub(super) async fn find_group(client: &Client, query: &str) -> Result<AccountGroup> {
    let groups = client.list::<AccountGroup>().await?;
    lookup::find(
        &groups,
        query,
        &GROUP,
        |group| &group.id,
        Some(|group| &group.name),
    )
    .cloned()
}

pub(super) async fn find_account(client: &Client, query: &str) -> Result<Account> {
    let accounts = client.list::<Account>().await?;
    lookup::find(&accounts, query, &ACCOUNT, |a| &a.id, Some(|a| &a.name)).cloned()
}

/// `name` trimmed, or an error when nothing is left.
pub(super) fn non_empty(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Usage("the name must not be empty".to_owned()));
    }
    Ok(name.to_owned())
}
