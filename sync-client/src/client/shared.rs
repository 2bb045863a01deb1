//! What the client's handle and its background task share.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use rand::rngs::StdRng;

use sqlx::SqliteConnection;
use sync_core::TenantId;
use tokio::sync::{Notify, broadcast, watch};

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::connection::transport::Connector;
use crate::error::Result;
use crate::event::{Changed, Event};
use crate::outbox;
use crate::replica::Replica;
use crate::status::{Connection, Status};

/// The settings of a client, with the defaults of [`Builder`](crate::Builder).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The server's URL, tenant included (for logs when another connector is used).
    pub(crate) url: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) answer_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) reconnect: Backoff,
    pub(crate) retry: Backoff,
    pub(crate) max_attempts: u32,
    pub(crate) batch_size: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) page_size: usize,
    pub(crate) gap_delay: Duration,
    pub(crate) check_interval: Duration,
}

/// The client's state, shared by every handle and the connection task.
pub(crate) struct Shared {
    pub(crate) replica: Replica,
    pub(crate) clock: Clock,
    pub(crate) config: Config,
    /// Opens every connection: the WebSocket adapter unless the app passes its own.
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) tenant: TenantId,
    pub(crate) client_id: String,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) events: broadcast::Sender<Event>,
    /// Rung after every local write, so the connection task sends it.
    pub(crate) wake: Notify,
    /// Rung when an unsubscribe sets an expiry, so the expiry task sees it.
    pub(crate) expiry: Notify,
    /// The random source of every backoff's jitter (seeded for reproducible runs).
    pub(crate) jitter: Mutex<StdRng>,
}

impl Shared {
    /// A wait from `backoff` before attempt `attempt`, jittered by the client's source.
    pub(crate) fn backoff(&self, backoff: &Backoff, attempt: u32) -> Duration {
        let mut rng = self
            .jitter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        backoff.delay_with(attempt, &mut *rng)
    }

    /// The local wall clock in milliseconds (uncorrected).
    pub(crate) fn local_ms(&self) -> i64 {
        self.clock.local_now().as_millis()
    }

    /// Publishes applied changes to the event channel.
    pub(crate) fn publish(&self, changes: impl IntoIterator<Item = Changed>) {
        for changed in changes {
            // No receiver is not an error: nobody is watching.
            let _ = self.events.send(Event::Changed(changed));
        }
    }

    /// Publishes events to the event channel.
    pub(crate) fn publish_events(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            let _ = self.events.send(event);
        }
    }

    /// Recounts the outbox into the status.
    pub(crate) async fn refresh_counts(&self, conn: &mut SqliteConnection) -> Result<()> {
        let counts = outbox::counts(conn).await?;
        self.status.send_if_modified(|status| {
            let changed = (status.pending, status.processing, status.failed)
                != (counts.pending, counts.processing, counts.failed);
            status.pending = counts.pending;
            status.processing = counts.processing;
            status.failed = counts.failed;
            changed
        });
        Ok(())
    }

    /// Sets the connection state.
    pub(crate) fn set_connection(&self, connection: Connection) {
        self.status.send_if_modified(|status| {
            let changed = status.connection != connection;
            status.connection = connection;
            changed
        });
    }

    /// Records an error for the status.
    pub(crate) fn set_error(&self, error: Option<String>) {
        self.status.send_if_modified(|status| {
            let changed = status.last_error != error;
            status.last_error = error;
            changed
        });
    }

    /// Records the stored cursor for the status.
    pub(crate) fn set_cursor(&self, cursor: u64) {
        self.status.send_if_modified(|status| {
            let changed = status.cursor != cursor;
            status.cursor = cursor;
            changed
        });
    }

    /// Records the tenant cursor the server mentioned last.
    pub(crate) fn set_server_cursor(&self, cursor: u64) {
        self.status.send_if_modified(|status| {
            let changed = status.server_cursor != Some(cursor);
            status.server_cursor = Some(cursor);
            changed
        });
    }

    /// Records a successful sync now.
    pub(crate) fn synced(&self) {
        self.status
            .send_modify(|status| status.last_sync = Some(chrono::Utc::now()));
    }
}
