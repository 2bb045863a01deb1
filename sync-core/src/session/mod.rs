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
//!
//! # Pipelining
//!
//! A session does not wait for one message's answer before it reads the next. Entries
//! (`process_sync_entry`, `process_sync_batch`) go to the tenant's writer as they arrive, up
//! to [`Config::max_in_flight`] changes at a time, so the writer's group commit takes a
//! client's pipelined entries in one transaction instead of paying a commit each. Replies
//! still leave in the order the messages arrived: ACKs and NACKs in entry order, a `pong`
//! after the ACKs of the entries sent before its `ping`. A message that reads the store
//! (`request_changes`, `request_initial_data`, `hello`, `data_status_request`) waits until
//! every entry before it is answered, so it sees their effects, and the session reads
//! nothing after it until it is answered.
//!
//! While `max_in_flight` changes are in flight the session stops reading its client, so the
//! transport's own flow control (TCP) pushes back on a client that sends faster than the
//! tenant's writer commits; nothing buffers without bound. A batch larger than
//! `max_in_flight` is admitted alone. When the writer's queue is full, entries are NACKed
//! `overloaded` (retryable). Deliveries from the hub, pings, shutdown and close codes go out
//! while entries are in flight. A client that leaves with entries in flight loses their
//! replies only: the writer still commits them, and a retry is answered `duplicate`.
//!
//! Each pipelined message is one job in its tenant's writer queue, which is bounded in
//! changes ([`engine::Config::writer_queue`](crate::engine::Config::writer_queue), 10,000 by
//! default). Many sessions of one tenant that all keep `max_in_flight` changes in flight can
//! fill it (157 sessions at 64 each), and then get `overloaded` NACKs.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::{SinkExt, StreamExt};
//! use sync_core::engine::{self, Engine};
//! use sync_core::hub::Hub;
//! use sync_core::session::{Config, Inbound, Outbound, Session};
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::{Registry, TenantId};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Registry::default()).open().await.unwrap();
//! let engine = Engine::new(store, Hub::new(256), engine::Config::default());
//! let config = Config { max_in_flight: 128, ..Config::default() };
//! let shutdown = tokio::sync::watch::channel(false);
//! let session = Session::new(engine, TenantId::new("t").unwrap(), "user-1", config, shutdown.1);
//!
//! let (mut to_session, inbound) = futures::channel::mpsc::channel(8);
//! let (outbound, mut from_session) = futures::channel::mpsc::channel(8);
//! tokio::spawn(session.run(inbound, outbound));
//! let Some(Outbound::Text(online)) = from_session.next().await else { panic!() };
//! assert_eq!(&*online, r#"{"type":"status","status":"online"}"#);
//! // Two pings sent at once are answered in order.
//! for n in [1, 2] {
//!     let ping = format!(r#"{{"type":"ping","timestamp":{n}}}"#);
//!     to_session.send(Inbound::Text(ping)).await.unwrap();
//! }
//! for n in [1, 2] {
//!     let Some(Outbound::Text(pong)) = from_session.next().await else { panic!() };
//!     assert_eq!(&*pong, format!(r#"{{"type":"pong","timestamp":{n}}}"#));
//! }
//! # });
//! ```

mod checksum;
mod deadline;
mod handle;
mod pipeline;
mod subscribe;

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::engine::Engine;
use crate::entity::Actor;
use crate::hub::{Cut, Subscription};
use crate::protocol::{Error, Limits, Ping, Reply, ServerMessage, Status, StatusKind};
use crate::store::Store;
use crate::tenant::TenantId;

pub use checksum::row_checksum;
pub use subscribe::{DEFAULT_MAX_BUCKETS, DEFAULT_MAX_SUBSCRIPTIONS, StreamLimits, role_reaches};

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
    /// The limits announced in `welcome`: the largest text frame (1 MiB), the most entries
    /// of one `process_sync_batch` (500) and the largest `changes` page (10,000, at most
    /// [`MAX_PAGE`](crate::store::MAX_PAGE)). Default [`Limits::default`].
    pub wire: Limits,
    /// The page size of `request_changes` when the client gives none. Default 1000.
    pub default_page: usize,
    /// The most changes a session has in flight to its tenant's writer (a message that is
    /// not an entry counts as one); at the bound it stops reading its client until the
    /// first of them is answered. A batch larger than this is admitted alone. At least 1;
    /// default 64. See [Pipelining](self#pipelining).
    pub max_in_flight: usize,
    /// How long a send to the client may make no progress. A client that stops reading
    /// fills its socket; past this the session closes with 1013 (reconnect and catch up from
    /// the cursor) and frees what it held. With the hub's byte bound
    /// ([`Hub::bounded`](crate::hub::Hub::bounded)) it bounds what one connection makes the
    /// server hold, in bytes and in time. Default 30 s.
    pub send_timeout: Duration,
    /// The limits of partial sync: buckets per subscription (1,000) and subscriptions per
    /// session (64). Default [`StreamLimits::default`].
    pub streams: StreamLimits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            wire: Limits::default(),
            default_page: 1000,
            max_in_flight: 64,
            send_timeout: Duration::from_secs(30),
            streams: StreamLimits::default(),
        }
    }
}

/// One authorised connection of one tenant.
pub struct Session<S> {
    engine: Engine<S>,
    tenant: TenantId,
    actor: Actor,
    config: Config,
    shutdown: watch::Receiver<bool>,
}

impl<S: Store> Session<S> {
    /// A session of `tenant` for `actor` (a subject's name converts into one with no role),
    /// whose writes pass the registry's [rules](crate::entity::rules) as that actor. It
    /// ends, with `status: shutdown` and close 1001, when `shutdown` turns true.
    pub fn new(
        engine: Engine<S>,
        tenant: TenantId,
        actor: impl Into<Actor>,
        config: Config,
        shutdown: watch::Receiver<bool>,
    ) -> Session<S> {
        Session {
            engine,
            tenant,
            actor: actor.into(),
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
        let subscription = self
            .engine
            .subscribe_for(&self.tenant, self.actor.subject())
            .await;
        let span = tracing::info_span!(
            "session",
            tenant = %self.tenant,
            subject = %self.actor.subject(),
            id = subscription.id(),
            client_id = tracing::field::Empty,
        );
        self.serve(subscription, inbound, outbound)
            .instrument(span)
            .await;
    }

    async fn serve<I, O>(self, mut subscription: Subscription, mut inbound: I, outbound: O)
    where
        I: Stream<Item = Inbound> + Unpin + Send,
        O: Sink<Outbound> + Unpin + Send,
    {
        let mut outbound = deadline::Deadline::new(outbound, self.config.send_timeout);
        let mut state = handle::State::new(subscription.id());
        // Entities keyed by the principal reach this session through its streams only.
        state.restricted = self
            .engine
            .store()
            .registry()
            .restricted_for(self.actor.role());
        let holder = subscription.holder();
        let resolve = subscription.resolve_signal();
        for entity in &state.restricted {
            holder.restrict(entity);
        }
        tracing::info!("session started");

        // Messages are encoded before an await, so the future does not hold them.
        let online = text(&ServerMessage::Status(Status {
            status: StatusKind::Online,
            message: None,
        }));
        if outbound.send(online).await.is_err() {
            return;
        }
        crate::metrics::session(true);
        let mut pings = tokio::time::interval_at(
            Instant::now() + self.config.ping_interval,
            self.config.ping_interval,
        );
        let mut last_heard = Instant::now();
        let mut shutdown = self.shutdown.clone();
        let mut pipeline = pipeline::Pipeline::new(&self);
        // A message read but not yet admitted to the pipeline; the session reads nothing
        // more while it waits.
        let mut held: Option<handle::Step> = None;
        let close = loop {
            if let Some(step) = held.take_if(|step| pipeline.admits(step)) {
                pipeline.push(step, state.id, state.last_sync);
            }
            let reading = held.is_none() && pipeline.wants_more();
            // Biased: with several branches ready the order is the code's, so a seeded
            // simulation replays exactly.
            tokio::select! {
                biased;
                frame = inbound.next(), if reading => {
                    let Some(frame) = frame else { break None };
                    last_heard = Instant::now();
                    let step = match frame {
                        // One rule whatever the transport: a message over the limit ends
                        // the session with 1009 (sync-axum's socket enforces it first).
                        Inbound::Text(text) if text.len() > self.config.wire.max_message_bytes => {
                            break Some((close::TOO_BIG, "message too big"));
                        }
                        Inbound::Text(text) => handle::handle(&self, &mut state, &holder, &text),
                        Inbound::Binary => handle::Step::Reply(vec![ServerMessage::Error(Error { message: "binary frames are not supported: send JSON text".to_owned(), original_type: None }).into()]),
                        Inbound::TooLarge => break Some((close::TOO_BIG, "message too big")),
                        Inbound::Activity => continue,
                    };
                    if pipeline.admits(&step) {
                        pipeline.push(step, state.id, state.last_sync);
                    } else {
                        held = Some(step);
                    }
                }
                done = pipeline.next(), if !pipeline.is_empty() => {
                    // A group commit answers many slots at once: their replies leave
                    // with one flush.
                    // (No finished slot is held across the await: only its replies.)
                    let mut replies = handle::finish(&self, &mut state, done);
                    let sent = loop {
                        if feed_all(&mut outbound, replies).await.is_err() {
                            break false;
                        }
                        match pipeline.next().now_or_never() {
                            Some(finished) => replies = handle::finish(&self, &mut state, finished),
                            None => break true,
                        }
                    };
                    if !sent || outbound.flush().await.is_err() {
                        break None;
                    }
                }
                delivered = subscription.recv(), if state.catching_up == 0 => match delivered {
                    Ok(message) => {
                        // Deliveries queued together leave with one flush.
                        let mut sent = true;
                        if let Some(message) = state.live(message) {
                            sent = outbound.feed(Outbound::Text(message)).await.is_ok();
                        }
                        for _ in 1..MAX_UNFLUSHED {
                            if !sent {
                                break;
                            }
                            let Some(Ok(message)) = subscription.recv().now_or_never() else { break };
                            let Some(message) = state.live(message) else { continue };
                            sent = outbound.feed(Outbound::Text(message)).await.is_ok();
                        }
                        if !sent || outbound.flush().await.is_err() {
                            break None;
                        }
                    }
                    Err(Cut::Lagged) => break Some((close::TRY_AGAIN, "fell behind: reconnect and catch up from your cursor")),
                    Err(Cut::TenantDeleted) => break Some((close::POLICY, "the tenant was deleted")),
                    Err(Cut::AccessChanged) => break Some((close::POLICY, "your access to the tenant changed")),
                    Err(Cut::Shutdown) => break Some(shutdown_close(&mut outbound).await),
                },
                () = resolve.wait(), if held.is_none() => {
                    state.catching_up += 1;
                    let step = handle::Step::Read(handle::Read::Resolve(handle::stream_context(&self, &state, &holder)));
                    if pipeline.admits(&step) {
                        pipeline.push(step, state.id, state.last_sync);
                    } else {
                        held = Some(step);
                    }
                }
                _ = pings.tick() => {
                    // A client waiting for its answers is not idle.
                    if pipeline.is_empty() && held.is_none() && last_heard.elapsed() > self.config.idle_timeout {
                        break Some((close::GOING_AWAY, "idle timeout"));
                    }
                    let ping = text(&ServerMessage::Ping(Ping { timestamp: crate::version::Version::now().as_millis() }));
                    if outbound.send(ping).await.is_err() {
                        break None;
                    }
                }
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                    break Some(shutdown_close(&mut outbound).await);
                }
            }
        };
        if !pipeline.is_empty() {
            // Their replies are lost; the writer still commits what it took.
            tracing::debug!(
                in_flight = pipeline.weight(),
                "session ends with messages in flight"
            );
        }
        drop(pipeline);
        let close = match close {
            None if outbound.stalled() => {
                crate::metrics::stalled();
                Some((
                    close::TRY_AGAIN,
                    "too slow to read: reconnect and catch up from your cursor",
                ))
            }
            close => close,
        };
        // The queued deliveries go now; a client that stopped reading gets a short grace for
        // the close frame, not another full timeout.
        drop(subscription);
        if outbound.stalled() {
            outbound.set_timeout(CLOSE_GRACE);
        }
        if let Some((code, reason)) = close {
            tracing::info!(code, reason, "closing session");
            let _ = outbound.send(Outbound::Close { code, reason }).await;
        }
        let _ = outbound.close().await;
        crate::metrics::session(false);
        tracing::info!("session ended");
    }
}

async fn shutdown_close<O: Sink<Outbound> + Unpin>(outbound: &mut O) -> (u16, &'static str) {
    let status = text(&ServerMessage::Status(Status {
        status: StatusKind::Shutdown,
        message: None,
    }));
    let _ = outbound.send(status).await;
    (close::GOING_AWAY, "server shutting down")
}

fn text(message: &ServerMessage) -> Outbound {
    Outbound::Text(Arc::from(message.to_text()))
}

/// How long a client that stopped reading is given for the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The most hub deliveries sent with one flush.
const MAX_UNFLUSHED: usize = 64;

/// Queues `replies` on the sink without flushing it.
async fn feed_all<O: Sink<Outbound> + Unpin>(
    outbound: &mut O,
    replies: Vec<Reply>,
) -> Result<(), O::Error> {
    for reply in &replies {
        outbound.feed(Outbound::Text(reply.to_frame())).await?;
    }
    Ok(())
}
