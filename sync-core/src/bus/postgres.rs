//! The PostgreSQL LISTEN/NOTIFY bus (feature `postgres`): no component besides the database.
//!
//! Every node LISTENs on one channel (default `sync_bus`); notices are sent with
//! `pg_notify` from the bus's own connection, never inside the store's transaction, so an
//! ACK never waits for the bus, and the notices waiting at one moment go out in one
//! statement. The payload is the compact text of [`Notice::to_text`], far below NOTIFY's
//! 8000-byte limit.
//!
//! Mind the cost: PostgreSQL takes one global lock to queue the notifications of a
//! committing transaction, so notifying transactions commit one at a time across the
//! whole database, and every listener receives every tenant's notices. The publisher
//! merges notices per tenant, which keeps this cheap at moderate load; at many busy tenants
//! measure it (the `bus` benchmark does) and prefer NATS.
//!
//! The listener holds one connection of the pool for good; give the bus a pool of its own
//! with at least two connections ([`PostgresBus::connect`] does).
//!
//! ```no_run
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use sync_core::bus::postgres::PostgresBus;
//! use sync_core::engine::{Config, Engine};
//! use sync_core::hub::Hub;
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::Registry;
//!
//! let bus = PostgresBus::connect("postgres://postgres@127.0.0.1:5432/app").await.unwrap();
//! let store = SqliteStore::builder("data", Registry::default()).open().await.unwrap();
//! let engine = Engine::with_bus(store, Hub::new(256), Config::default(), Arc::new(bus));
//! # });
//! ```

use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use super::{Bus, Event, Notice};
use crate::error::{Error, Result};

/// The default channel.
pub const DEFAULT_CHANNEL: &str = "sync_bus";

/// A bus over PostgreSQL LISTEN/NOTIFY on one channel.
pub struct PostgresBus {
    pool: PgPool,
    channel: String,
}

impl PostgresBus {
    /// Connects a pool of its own (two connections: one listens, one notifies) to `url`.
    pub async fn connect(url: &str) -> Result<PostgresBus> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|error| {
                Error::Bus(format!("cannot connect to PostgreSQL for the bus: {error}"))
            })?;
        Ok(PostgresBus::new(pool))
    }

    /// A bus over `pool`, which must allow at least two connections.
    pub fn new(pool: PgPool) -> PostgresBus {
        PostgresBus {
            pool,
            channel: DEFAULT_CHANNEL.to_owned(),
        }
    }

    /// Uses `channel` instead of [`DEFAULT_CHANNEL`], e.g. for several deployments on one
    /// database. Every node of one deployment must use the same.
    pub fn channel(mut self, channel: &str) -> Result<PostgresBus> {
        let valid = !channel.is_empty()
            && channel.len() <= 63
            && channel
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(Error::Bus(format!(
                "invalid NOTIFY channel {channel:?}: use 1 to 63 lowercase letters, digits and '_'"
            )));
        }
        self.channel = channel.to_owned();
        Ok(self)
    }
}

impl Bus for PostgresBus {
    fn send<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, Result<()>> {
        async move {
            let payloads: Vec<String> = notices.iter().map(Notice::to_text).collect();
            sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
                .bind(&self.channel)
                .bind(&payloads)
                .execute(&self.pool)
                .await
                .map_err(|error| Error::Bus(format!("cannot NOTIFY: {error}")))?;
            Ok(())
        }
        .boxed()
    }

    fn listen(&self) -> BoxFuture<'_, Result<BoxStream<'static, Event>>> {
        async move {
            let mut listener = PgListener::connect_with(&self.pool)
                .await
                .map_err(|error| Error::Bus(format!("cannot LISTEN: {error}")))?;
            listener
                .listen(&self.channel)
                .await
                .map_err(|error| Error::Bus(format!("cannot LISTEN: {error}")))?;
            Ok(futures::stream::unfold(listener, next).boxed())
        }
        .boxed()
    }
}

/// The next event: a notice, or a resync once the listener is back after a lost connection.
async fn next(mut listener: PgListener) -> Option<(Event, PgListener)> {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match Notice::parse(notification.payload()) {
                Ok(notice) => return Some((Event::Notice(notice), listener)),
                Err(error) => tracing::warn!(%error, "ignoring a bus notification"),
            },
            // The connection was lost and is back (sqlx reconnects and LISTENs again
            // before it returns `None`).
            Ok(None) => return Some((Event::Resync, listener)),
            Err(error) => {
                tracing::warn!(%error, "the bus lost PostgreSQL; reconnecting");
                reconnect(&mut listener).await;
                return Some((Event::Resync, listener));
            }
        }
    }
}

/// Waits until the listener has its connection back, LISTENing again.
async fn reconnect(listener: &mut PgListener) {
    let mut pause = Duration::from_millis(100);
    loop {
        tokio::time::sleep(pause).await;
        // Any statement through the listener reconnects it and re-issues its LISTEN.
        match sqlx::query("SELECT 1").execute(&mut *listener).await {
            Ok(_) => return,
            Err(error) => tracing::debug!(%error, "the bus still cannot reach PostgreSQL"),
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
