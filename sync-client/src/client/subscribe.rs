//! Partial sync on the handle: subscribe, unsubscribe, list (see [`crate::subscription`]).

use std::time::Duration;

use sync_core::Syncable;

use super::Client;
use crate::connection::Command;
use crate::error::{Error, Result};
use crate::replica::streams::apply;
use crate::replica::streams::holds::{self, Stored};
use crate::subscription::{Subscription, SubscriptionId};

impl Client {
    /// Subscribes to the buckets `keys` of the stream `stream` of `T`: from now on the
    /// replica holds the rows of those buckets (and, once an entity has a subscription,
    /// only rows some subscription holds). Recorded at once and sent whenever the client
    /// is connected; resumed after a restart. Fails with [`Error::UnknownStream`] or
    /// [`Error::InvalidKey`] without recording anything.
    pub async fn subscribe<T: Syncable>(
        &self,
        stream: &str,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<SubscriptionId> {
        let handler = self.handler::<T>()?;
        let spec = handler
            .streams()
            .iter()
            .find(|spec| spec.name == stream)
            .ok_or_else(|| Error::UnknownStream {
                entity: T::ENTITY,
                stream: stream.to_owned(),
            })?;
        let mut keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        keys.sort();
        keys.dedup();
        if let Some(key) = keys.iter().find(|key| !spec.accepts_key(key)) {
            return Err(Error::InvalidKey {
                stream: stream.to_owned(),
                column: spec.by,
                key: key.clone(),
            });
        }
        let shared = self.shared();
        let stored = Stored {
            id: uuid::Uuid::new_v4().simple().to_string(),
            entity: handler.entity().to_owned(),
            stream: spec.name.to_owned(),
            keys,
            buckets: None,
            definition: None,
            cursor: None,
            expires_at: None,
            error: None,
            created_at: shared.local_ms(),
        };
        apply::subscribe(&mut *shared.replica.lock().await?, &stored).await?;
        // Offline, the next connection sends it.
        let _ = self.inner.commands.send(Command::Streams).await;
        Ok(SubscriptionId(stored.id))
    }

    /// Ends the subscription `id`. Its rows that no other subscription holds stay in the
    /// replica, no longer synced, until `ttl` has passed (a persisted expiry: also after a
    /// restart), then leave; with [`Duration::ZERO`] they leave now. Unsubscribing a warm
    /// subscription again sets its expiry anew.
    pub async fn unsubscribe(&self, id: &SubscriptionId, ttl: Duration) -> Result<()> {
        let shared = self.shared();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let events = apply::unsubscribe(
            &mut *shared.replica.lock().await?,
            shared.replica.tables(),
            id.as_str(),
            ttl_ms,
            shared.local_ms(),
        )
        .await?
        .ok_or_else(|| Error::UnknownSubscription(id.clone()))?;
        shared.publish_events(events);
        shared.expiry.notify_one();
        let _ = self.inner.commands.send(Command::Streams).await;
        Ok(())
    }

    /// Every subscription, syncing or warm, oldest first, with its cursor.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>> {
        let stored = holds::list(&mut *self.shared().replica.lock().await?).await?;
        Ok(stored.into_iter().map(Subscription::from).collect())
    }
}
