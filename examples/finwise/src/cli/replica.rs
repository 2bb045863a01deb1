//! The local replica of the current tenant: a `sync-client` [`Client`] on
//! `<profile>/<tenant>.db` with the nine FinWise entities, and the short sync that follows
//! a command.

use std::time::Duration;

use sync_client::Client;
use sync_core::TenantId;

use super::error::{Error, Result};
use super::profile::Profile;

/// The sync socket of `tenant` on the server at `server` (`http://` or `https://`):
/// `ws://` or `wss://`, the same host and path prefix, then `/ws_finwise/ws/{tenant}`.
pub fn sync_url(server: &str, tenant: &str) -> Result<String> {
    Ok(format!("{}/{tenant}", sync_base(server)?))
}

/// The sync socket's URL without the tenant, which the client appends.
fn sync_base(server: &str) -> Result<String> {
    let server = server.trim().trim_end_matches('/');
    let scheme = |prefix: &str| {
        server
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    let (ws, rest) = if scheme("http://") {
        ("ws://", &server["http://".len()..])
    } else if scheme("https://") {
        ("wss://", &server["https://".len()..])
    } else {
        return Err(Error::Usage(format!(
            "the server URL {server:?} must start with http:// or https://"
        )));
    };
    // The server's own route, without its tenant parameter, which sync-client appends.
    let route = crate::SYNC_PATH.trim_end_matches("/{tenant_id}");
    Ok(format!("{ws}{rest}{route}"))
}

/// Opens the current tenant's replica; works without the server. The client connects
/// in the background, giving each attempt `timeout`.
pub(crate) async fn open(
    profile: &Profile,
    server: &str,
    timeout: Duration,
) -> Result<(Client, TenantId)> {
    let tenant = profile.tenant()?;
    let token = profile.token()?;
    let client = Client::builder(sync_base(server)?)
        .tenant(tenant.as_str())
        .token(token)
        .database(profile.replica_path(&tenant))
        .connect_timeout(timeout)
        .entities(&crate::entities::registry())
        .build()
        .await?;
    Ok((client, tenant))
}

/// How a sync ended.
#[derive(Debug)]
pub(crate) enum Synced {
    /// Caught up, and every change sent and answered.
    Done,
    /// The server could not be reached or the sync did not finish: why.
    Not(String),
}

/// Syncs for at most `timeout`, records a finished sync in the profile, and says how it
/// ended. Local changes that were not sent stay queued for the next command.
pub(crate) async fn sync(
    client: &Client,
    profile: &mut Profile,
    tenant: &TenantId,
    timeout: Duration,
) -> Result<Synced> {
    match client.sync_now(timeout).await {
        Ok(()) => {
            profile.record_sync(tenant)?;
            Ok(Synced::Done)
        }
        Err(sync_client::Error::Offline(reason)) => Ok(Synced::Not(explain(&reason))),
        Err(sync_client::Error::Timeout(_)) => Ok(Synced::Not(format!(
            "the sync did not finish within {}",
            seconds(timeout)
        ))),
        Err(other) => Err(other.into()),
    }
}

/// The short sync after a command, reported on standard error: a line when changes wait
/// to be sent or were refused, nothing when all is well and `quiet`.
pub(crate) async fn sync_and_report(
    client: &Client,
    profile: &mut Profile,
    tenant: &TenantId,
    timeout: Duration,
    quiet: bool,
) -> Result<()> {
    let synced = sync(client, profile, tenant, timeout).await?;
    let status = client.status().borrow().clone();
    let waiting = status.pending + status.processing;
    match synced {
        Synced::Done if !quiet => eprintln!("synced with the server"),
        Synced::Done => {}
        Synced::Not(reason) if waiting > 0 => eprintln!(
            "not synced ({reason}): {} waiting to be sent by a later command",
            count(waiting, "change")
        ),
        Synced::Not(reason) => {
            eprintln!("not synced ({reason}): the local replica may be behind the server");
        }
    }
    if status.failed > 0 {
        eprintln!(
            "{} refused by the server: see `finwise-cli status`",
            count(status.failed, "change")
        );
    }
    Ok(())
}

/// "1 change", "3 changes": `noun` with an `s` unless there is one.
pub(crate) fn count(number: impl Into<u64>, noun: &str) -> String {
    let number = number.into();
    if number == 1 {
        format!("1 {noun}")
    } else {
        format!("{number} {noun}s")
    }
}

/// "5 s", "1.5 s".
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// The client's reason, with what to do when the server refused the login.
fn explain(reason: &str) -> String {
    if reason.contains("401") {
        format!("{reason}; run `finwise-cli login` again")
    } else {
        reason.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_url_follows_the_server_url() {
        assert_eq!(
            sync_url("http://127.0.0.1:8000", "t1").unwrap(),
            "ws://127.0.0.1:8000/ws_finwise/ws/t1"
        );
        assert_eq!(
            sync_url("HTTPS://example.com/finwise/", "t1").unwrap(),
            "wss://example.com/finwise/ws_finwise/ws/t1"
        );
        assert!(sync_url("127.0.0.1:8000", "t1").is_err());
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(count(1_u64, "change"), "1 change");
        assert_eq!(count(0_u64, "change"), "0 changes");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
