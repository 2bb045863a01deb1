//! A client session: the protocol of PROTOCOL.md over any transport.
//!
//! [`Session::run`] reads decoded frames from a `Stream` of [`Inbound`] and writes
//! [`Outbound`] frames to a `Sink`, so it is tested with channels and adapted to a
//! WebSocket in a few lines (see `sync-axum`). It sends `status: online` first, answers
//! every message, forwards the tenant's changes from the [`Hub`](crate::hub::Hub), pings the
//! client, and closes with the code of PROTOCOL.md B.3 when the session must end.
//!
//! A session's tenant is the one it was authorised for; an entry naming another tenant is
//! NACKed `forbidden` and writes nothing.

mod checksum;
mod handle;

use std::sync::Arc;
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::engine::Engine;
use crate::hub::{Cut, Subscription};
use crate::protocol::ServerMessage;
use crate::store::Store;
use crate::tenant::TenantId;

pub use checksum::row_checksum;

/// A frame from the client, as the transport decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A text frame.
    Text(String),
    /// A binary frame, which the protocol does not use.
    Binary,
    /// A frame above the message size limit.
    TooLarge,
    /// Any other sign of life (a ping or pong frame).
    Activity,
}

/// A frame to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text frame.
    Text(Arc<str>),
    /// A close frame; the session ends after it.
    Close {
        /// The close code (PROTOCOL.md B.3).
        code: u16,
        /// Why, for people.
        reason: &'static str,
    },
}

/// Close codes of PROTOCOL.md B.3.
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown, idle timeout).
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: access lost or forbidden.
    pub const POLICY: u16 = 1008;
    /// A message exceeded the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Try again later: overloaded, or the session fell behind.
    pub const TRY_AGAIN: u16 = 1013;
}

/// Session limits and timings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often the server pings. Default 30 s.
    pub ping_interval: Duration,
    /// How long a silent client is kept. Default 120 s (the client pings every 20 s).
    pub idle_timeout: Duration,
    /// The most entries one `process_sync_batch` may hold. Default 500.
    pub max_batch: usize,
    /// The largest text frame, in bytes (announced in `welcome`). Default 1 MiB.
    pub max_message_bytes: usize,
    /// The page size of `request_changes` when the client gives none. Default 1000.
    pub default_page: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_batch: 500,
            max_message_bytes: 1 << 20,
            default_page: 1000,
        }
    }
}

/// One authorised connection of one tenant.
pub struct Session<S> {
    engine: Engine<S>,
    tenant: TenantId,
    subject: String,
    config: Config,
    shutdown: watch::Receiver<bool>,
}

impl<S: Store> Session<S> {
    /// A session of `tenant` for `subject`. It ends, with `status: shutdown` and close 1001,
    /// when `shutdown` turns true.
    pub fn new(
        engine: Engine<S>,
        tenant: TenantId,
        subject: impl Into<String>,
        config: Config,
        shutdown: watch::Receiver<bool>,
    ) -> Session<S> {
        Session {
            engine,
            tenant,
            subject: subject.into(),
            config,
            shutdown,
        }
    }

    /// Runs the session until the client leaves, the session must end, or the sink fails.
    pub async fn run<I, O>(self, inbound: I, outbound: O)
    where
        I: Stream<Item = Inbound> + Unpin + Send,
        O: Sink<Outbound> + Unpin + Send,
    {
        let subscription = self.engine.hub().subscribe(&self.tenant);
        let span = tracing::info_span!(
            "session",
            tenant = %self.tenant,
            subject = %self.subject,
            id = subscription.id(),
            client_id = tracing::field::Empty,
        );
        self.serve(subscription, inbound, outbound)
            .instrument(span)
            .await;
    }

    async fn serve<I, O>(self, mut subscription: Subscription, mut inbound: I, mut outbound: O)
    where
        I: Stream<Item = Inbound> + Unpin + Send,
        O: Sink<Outbound> + Unpin + Send,
    {
        let mut state = handle::State::new(subscription.id());
        tracing::info!("session started");

        let online = ServerMessage::Status {
            status: "online",
            message: None,
        };
        if outbound.send(text(&online)).await.is_err() {
            return;
        }
        let mut pings = tokio::time::interval_at(
            Instant::now() + self.config.ping_interval,
            self.config.ping_interval,
        );
        let mut last_heard = Instant::now();
        let mut shutdown = self.shutdown.clone();
        let close = loop {
            tokio::select! {
                frame = inbound.next() => {
                    let Some(frame) = frame else { break None };
                    last_heard = Instant::now();
                    match frame {
                        // One rule whatever the transport: a message over the limit ends
                        // the session with 1009 (sync-axum's socket enforces it first).
                        Inbound::Text(text) if text.len() > self.config.max_message_bytes => {
                            break Some((close::TOO_BIG, "message too big"));
                        }
                        Inbound::Text(text) => {
                            let replies = handle::handle(&self, &mut state, &text).await;
                            if send_all(&mut outbound, replies).await.is_err() {
                                break None;
                            }
                        }
                        Inbound::Binary => {
                            let reply = ServerMessage::Error { message: "binary frames are not supported: send JSON text".to_owned(), original_type: None };
                            if outbound.send(self::text(&reply)).await.is_err() {
                                break None;
                            }
                        }
                        Inbound::TooLarge => break Some((close::TOO_BIG, "message too big")),
                        Inbound::Activity => {}
                    }
                }
                delivered = subscription.recv() => match delivered {
                    Ok(message) => {
                        if outbound.send(Outbound::Text(message)).await.is_err() {
                            break None;
                        }
                    }
                    Err(Cut::Lagged) => break Some((close::TRY_AGAIN, "fell behind: reconnect and catch up from your cursor")),
                    Err(Cut::TenantDeleted) => break Some((close::POLICY, "the tenant was deleted")),
                    Err(Cut::Shutdown) => break Some(shutdown_close(&mut outbound).await),
                },
                _ = pings.tick() => {
                    if last_heard.elapsed() > self.config.idle_timeout {
                        break Some((close::GOING_AWAY, "idle timeout"));
                    }
                    let ping = ServerMessage::Ping { timestamp: crate::version::Version::now().as_millis() };
                    if outbound.send(text(&ping)).await.is_err() {
                        break None;
                    }
                }
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                    break Some(shutdown_close(&mut outbound).await);
                }
            }
        };
        if let Some((code, reason)) = close {
            tracing::info!(code, reason, "closing session");
            let _ = outbound.send(Outbound::Close { code, reason }).await;
        }
        let _ = outbound.close().await;
        tracing::info!("session ended");
    }
}

async fn shutdown_close<O: Sink<Outbound> + Unpin>(outbound: &mut O) -> (u16, &'static str) {
    let _ = outbound
        .send(text(&ServerMessage::Status {
            status: "shutdown",
            message: None,
        }))
        .await;
    (close::GOING_AWAY, "server shutting down")
}

fn text(message: &ServerMessage) -> Outbound {
    Outbound::Text(message.to_frame())
}

async fn send_all<O: Sink<Outbound> + Unpin>(
    outbound: &mut O,
    replies: Vec<ServerMessage>,
) -> Result<(), O::Error> {
    for reply in &replies {
        outbound.send(text(reply)).await?;
    }
    Ok(())
}
