//! `status`: the login, the tenant, the connection, and the local replica's outbox.

use chrono::SecondsFormat;
use sync_client::status::Connection;

use super::sync::reason;
use super::{Context, finish, print_json};
use crate::cli::error::Result;
use crate::cli::replica::{self, Synced, count};
use crate::entities::{Account, AccountGroup};

/// `status`: syncs briefly when the server can be reached (so the counts are current),
/// then reports, as lines or (`--json`) one JSON object. Works offline.
pub(super) async fn run(context: &mut Context) -> Result<()> {
    let user = context.profile.user()?.clone();
    let (client, tenant) = context.replica().await?;
    let result = async {
        let synced = replica::sync(&client, &mut context.profile, &tenant, context.timeout).await?;
        let status = client.status().borrow().clone();
        let online = matches!(synced, Synced::Done) || status.connection == Connection::Online;
        let connection = match (&synced, status.connection) {
            (Synced::Done, _) => "online, synced".to_owned(),
            (Synced::Not(why), Connection::Online) => format!("online, still syncing ({why})"),
            (Synced::Not(why), _) => format!("offline ({why})"),
        };
        // One reading for both outputs: JSON says null where the text says "never".
        let last_sync = context
            .profile
            .saved
            .tenants
            .get(tenant.as_str())
            .and_then(|tenant| tenant.last_sync)
            .map(|time| time.to_rfc3339_opts(SecondsFormat::Secs, true));
        let accounts = client.list::<Account>().await?.len() as u64;
        let groups = client.list::<AccountGroup>().await?.len() as u64;
        let failed = client.failed().await?;
        if context.json {
            print_json(&serde_json::json!({
                "server": context.server,
                "user": {"uuid": user.uuid, "name": user.name, "email": user.email},
                "tenant": {"id": tenant.as_str(), "label": context.profile.tenant_label(tenant.as_str())},
                "replica": context.profile.replica_path(&tenant).display().to_string(),
                "online": online,
                "synced": matches!(synced, Synced::Done),
                "connection": connection,
                "last_sync": last_sync,
                "cursor": status.cursor,
                "pending": status.pending,
                "processing": status.processing,
                "failed": status.failed,
                "failed_entries": failed.iter().map(|entry| serde_json::json!({
                    "operation": entry.operation.as_str(),
                    "entity_type": entry.entity_type,
                    "entity_id": entry.entity_id,
                    "reason": reason(entry.reason.as_deref(), entry.detail.as_deref()),
                })).collect::<Vec<_>>(),
                "accounts": accounts,
                "groups": groups,
            }));
            return Ok(());
        }
        let lines = [
            ("server", context.server.clone()),
            ("user", format!("{} <{}>", user.name, user.email)),
            ("tenant", context.profile.tenant_label(tenant.as_str())),
            (
                "replica",
                context.profile.replica_path(&tenant).display().to_string(),
            ),
            ("connection", connection),
            ("last sync", last_sync.unwrap_or_else(|| "never".to_owned())),
            ("cursor", status.cursor.to_string()),
            ("pending", status.pending.to_string()),
            ("processing", status.processing.to_string()),
            ("failed", status.failed.to_string()),
        ];
        for (key, value) in lines {
            println!("{:<11} {value}", format!("{key}:"));
        }
        for entry in failed {
            println!(
                "  - {} {} {}: {}",
                entry.operation.as_str(),
                entry.entity_type,
                entry.entity_id,
                reason(entry.reason.as_deref(), entry.detail.as_deref())
            );
        }
        println!(
            "{:<11} {} in {}",
            "data:",
            count(accounts, "account"),
            count(groups, "group")
        );
        Ok(())
    }
    .await;
    finish(client, result).await
}
