//! The NATS bus (feature `nats`): the scale-out choice.
//!
//! Each tenant's notices go to the subject `<prefix>.<tenant>` (tenant ids are valid subject
//! tokens); every node subscribes to `<prefix>.*`. NATS is a clustered messaging system
//! built for this fan-out, and publishing costs the database nothing. Core NATS delivers at
//! most once; when the client reconnects, this bus waits until the server has its
//! subscription back and yields [`Event::Resync`], so every tenant catches up from the feed.
//!
//! ```no_run
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use sync_core::bus::nats::NatsBus;
//! use sync_core::engine::{Config, Engine};
//! use sync_core::hub::Hub;
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::Registry;
//!
//! let bus = NatsBus::connect("nats://127.0.0.1:4222", "sync").await.unwrap();
//! let store = SqliteStore::builder("data", Registry::default()).open().await.unwrap();
//! let engine = Engine::with_bus(store, Hub::new(256), Config::default(), Arc::new(bus));
//! # });
//! ```

use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::{Bus, Event, Notice};
use crate::error::{Error, Result};

/// A bus over NATS subjects `<prefix>.<tenant>`.
pub struct NatsBus {
    client: Client,
    prefix: String,
    /// Counts the client's (re)connections.
    connections: watch::Receiver<u64>,
}

impl NatsBus {
    /// Connects to `url` with default options (reconnecting forever).
    pub async fn connect(url: &str, prefix: &str) -> Result<NatsBus> {
        NatsBus::connect_with(ConnectOptions::new(), url, prefix).await
    }

    /// Connects to `url` with `options` (credentials, TLS, reconnect delays). The bus
    /// installs its own event callback, to learn of reconnections; one set on `options`
    /// is replaced.
    pub async fn connect_with(options: ConnectOptions, url: &str, prefix: &str) -> Result<NatsBus> {
        check_prefix(prefix)?;
        let (connections, receiver) = watch::channel(0u64);
        let options = options.event_callback(move |event| {
            if matches!(event, async_nats::Event::Connected) {
                connections.send_modify(|count| *count += 1);
            } else {
                tracing::debug!(%event, "nats");
            }
            async {}
        });
        let client = options
            .connect(url)
            .await
            .map_err(|error| Error::Bus(format!("cannot connect to NATS at {url}: {error}")))?;
        Ok(NatsBus {
            client,
            prefix: prefix.to_owned(),
            connections: receiver,
        })
    }

    /// The client, e.g. to share its connection.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn check_prefix(prefix: &str) -> Result<()> {
    let valid = !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(Error::Bus(format!(
            "invalid NATS subject prefix {prefix:?}: use dot-separated tokens of letters, digits, '_' and '-'"
        )))
    }
}

impl Bus for NatsBus {
    fn send<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, Result<()>> {
        async move {
            for notice in notices {
                let subject = format!("{}.{}", self.prefix, notice.tenant);
                self.client
                    .publish(subject, notice.to_text().into())
                    .await
                    .map_err(|error| Error::Bus(format!("cannot publish to NATS: {error}")))?;
            }
            Ok(())
        }
        .boxed()
    }

    fn listen(&self) -> BoxFuture<'_, Result<BoxStream<'static, Event>>> {
        async move {
            let subscriber = self
                .client
                .subscribe(format!("{}.*", self.prefix))
                .await
                .map_err(|error| Error::Bus(format!("cannot subscribe on NATS: {error}")))?;
            let notices = subscriber.filter_map(|message| async move {
                let text = std::str::from_utf8(&message.payload).ok()?;
                match Notice::parse(text) {
                    Ok(notice) => Some(Event::Notice(notice)),
                    Err(error) => {
                        tracing::warn!(%error, subject = %message.subject, "ignoring a bus message");
                        None
                    }
                }
            });
            let mut connections = self.connections.clone();
            connections.mark_unchanged();
            let client = self.client.clone();
            // After a reconnection the client re-subscribes; a flush is a round trip, so
            // once it returns the server has the subscription and nothing later is missed.
            let resyncs = futures::stream::unfold(
                (connections, client),
                |(mut connections, client)| async move {
                    connections.changed().await.ok()?;
                    while let Err(error) = client.flush().await {
                        tracing::debug!(%error, "waiting for NATS to take the subscription back");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Some((Event::Resync, (connections, client)))
                },
            );
            Ok(futures::stream::select(notices, resyncs).boxed())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::check_prefix;

    #[test]
    fn prefixes_are_subject_tokens() {
        assert!(check_prefix("sync").is_ok());
        assert!(check_prefix("app.sync-1").is_ok());
        for bad in ["", "a..b", "a.*", "a b", ">", "a."] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
