//! The task that ends warm subscriptions when their TTL passes, online or not.

use std::sync::Arc;
use std::time::Duration;

use super::shared::Shared;
use crate::error::{Error, Result};
use crate::replica::streams::apply;

/// Sweeps expired warm subscriptions, then sleeps until the next expiry or until an
/// unsubscribe sets one; ends when the replica is closed.
pub(super) async fn run(shared: Arc<Shared>) {
    loop {
        let next = match sweep(&shared).await {
            Ok(next) => next,
            Err(Error::Closed) => return,
            Err(error) => {
                tracing::warn!(%error, "could not end expired subscriptions");
                Some(shared.local_ms() + 1_000)
            }
        };
        match next {
            Some(at) => {
                let wait = Duration::from_millis(
                    u64::try_from(at.saturating_sub(shared.local_ms())).unwrap_or(0),
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shared.expiry.notified() => {}
                }
            }
            None => shared.expiry.notified().await,
        }
    }
}

async fn sweep(shared: &Shared) -> Result<Option<i64>> {
    let (events, next) = apply::expire(
        &mut *shared.replica.lock().await?,
        shared.replica.tables(),
        shared.local_ms(),
    )
    .await?;
    shared.publish_events(events);
    Ok(next)
}
