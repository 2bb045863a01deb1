//! `group add`, `group list`: on the local replica, then a short sync.

use super::account::non_empty;
use super::{Context, finish};
use crate::cli::error::Result;
use crate::cli::table::Table;
use crate::entities::{Account, AccountGroup};

/// `group add NAME [--sort N]`: a new group, sorted last unless `--sort` says otherwise.
pub(super) async fn add(context: &mut Context, name: &str, sort: Option<i32>) -> Result<()> {
    let name = non_empty(name)?;
    let (client, tenant) = context.replica().await?;
    let result = async {
        let sort_order = match sort {
            Some(sort) => sort,
            None => client
                .list::<AccountGroup>()
                .await?
                .iter()
                .map(|group| group.sort_order.saturating_add(1))
                .max()
                .unwrap_or(0),
        };
        let group = AccountGroup {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            sort_order,
            logo_path: None,
            updated_at: None,
        };
        let stored = client.put(&group).await?;
        println!("added group {} ({})", stored.name, stored.id);
        context.sync_after(&client, &tenant, false).await
    }
    .await;
    finish(client, result).await
}

/// `group list`: syncs briefly, then prints the replica's groups in their order.
pub(super) async fn list(context: &mut Context) -> Result<()> {
    let (client, tenant) = context.replica().await?;
    let result = async {
        context.sync_after(&client, &tenant, true).await?;
        let mut groups = client.list::<AccountGroup>().await?;
        if groups.is_empty() && !context.json {
            eprintln!("no account groups yet: add one with `finwise-cli group add NAME`");
            return Ok(());
        }
        let accounts = client.list::<Account>().await?;
        groups.sort_by(|a, b| (a.sort_order, &a.name).cmp(&(b.sort_order, &b.name)));
        if context.json {
            let groups = groups
                .iter()
                .map(|group| {
                    let accounts = accounts
                        .iter()
                        .filter(|account| account.account_group_id == group.id)
                        .count();
                    serde_json::json!({
                        "id": group.id,
                        "name": group.name,
                        "sort_order": group.sort_order,
                        "accounts": accounts,
                    })
                })
                .collect();
            super::print_json(&serde_json::Value::Array(groups));
            return Ok(());
        }
        let mut table = Table::new(&["ID", "NAME", "SORT", "ACCOUNTS"])
            .right(2)
            .right(3);
        for group in &groups {
            let count = accounts
                .iter()
                .filter(|account| account.account_group_id == group.id)
                .count();
            table.row(vec![
                group.id.clone(),
                group.name.clone(),
                group.sort_order.to_string(),
                count.to_string(),
            ]);
        }
        print!("{}", table.render());
        Ok(())
    }
    .await;
    finish(client, result).await
}
