//! One connected session: greeting, catch-up, flushing the outbox, live changes.
//!
//! ```text
//! status online ─▶ hello ─▶ welcome ─▶ subscribe … ─▶ request_changes … (pages) ─▶ process_sync_batch …
//!                                      data_update, stream_page, checkpoint (any time)
//! ```
//!
//! The session reads [`Frame`]s from the transport's stream and writes frames to its sink
//! (through a writer task, so reading never waits for a write); it knows nothing of the
//! socket under them. Its state is split by concern: the [`Link`] (the transport and its
//! liveness), the [`Greeting`], the catch-up [`Feed`] (`catchup.rs`) and the outbox
//! [`Flush`] (`flush.rs`).
//!
//! At most `max_in_flight` batches wait for their answers; each batch's answers are
//! settled together, in one transaction, once all have arrived. A batch or a page that is
//! not answered within the answer timeout, or a server that stays silent, ends the
//! session: its unanswered entries go back to pending and the task reconnects.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

mod catchup;
mod flush;
mod streams;

use self::catchup::Feed;
use self::flush::Flush;
use self::streams::Streams;
use super::transport::{BoxError, Frame, Transport};
use super::wire;
use super::{Command, End, Waiter};
use crate::client::shared::Shared;
use crate::error::Result;
use crate::replica::meta;
use crate::replica::settle::Answer;
use sync_core::protocol::{Limits, ServerMessage, Status, StatusKind, Welcome};

/// The transport and its liveness.
struct Link {
    incoming: BoxStream<'static, Result<Frame, BoxError>>,
    outgoing: mpsc::UnboundedSender<Frame>,
    writer: tokio::task::JoinHandle<()>,
    connected_at: Instant,
    last_heard: Instant,
}

impl Link {
    fn new(transport: Transport) -> Link {
        let Transport {
            incoming,
            outgoing: mut sink,
        } = transport;
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Frame>();
        let writer = tokio::spawn(async move {
            while let Some(frame) = queue.recv().await {
                let closing = matches!(frame, Frame::Close { .. });
                if sink.send(frame).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let now = Instant::now();
        Link {
            incoming,
            outgoing,
            writer,
            connected_at: now,
            last_heard: now,
        }
    }

    fn send(&self, text: String) {
        // A failed write ends the writer; the read side then sees the connection end.
        let _ = self.outgoing.send(Frame::Text(text));
    }

    async fn close(&mut self) {
        let _ = self.outgoing.send(Frame::Close {
            code: 1000,
            reason: "client closing".to_owned(),
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.writer).await;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// `hello` and `welcome`.
#[derive(Default)]
struct Greeting {
    hello_sent: Option<Instant>,
    greeted: bool,
    limits: Limits,
}

pub(super) struct Session<'a> {
    shared: &'a Shared,
    link: Link,
    greeting: Greeting,
    feed: Feed,
    flush: Flush,
    streams: Streams,
}

impl<'a> Session<'a> {
    pub(super) fn new(shared: &'a Shared, transport: Transport) -> Session<'a> {
        Session {
            shared,
            link: Link::new(transport),
            greeting: Greeting::default(),
            feed: Feed::default(),
            flush: Flush::default(),
            streams: Streams::default(),
        }
    }

    pub(super) async fn run(
        mut self,
        commands: &mut mpsc::Receiver<Command>,
        waiters: &mut Vec<Waiter>,
    ) -> End {
        match self.serve(commands, waiters).await {
            Ok(end) => end,
            Err(error) => self.lost(format!("local database error: {error}")),
        }
    }

    async fn serve(
        &mut self,
        commands: &mut mpsc::Receiver<Command>,
        waiters: &mut Vec<Waiter>,
    ) -> Result<End> {
        let shared = self.shared;
        self.feed.cursor = meta::cursor(&mut *shared.replica.lock().await?).await?;
        let every = shared.config.ping_interval;
        let mut pings = tokio::time::interval_at(Instant::now() + every, every);
        loop {
            let (deadline, why) = self.deadline();
            let far = Instant::now() + Duration::from_secs(86_400);
            let ready_at = self.flush.ready_at;
            let gap_at = self.feed.gap_at;
            // Biased: when several branches are ready, the order is the code's, not a
            // coin's, so a seeded simulation replays exactly.
            tokio::select! {
                biased;
                frame = self.link.incoming.next() => {
                    self.link.last_heard = Instant::now();
                    match frame {
                        Some(Ok(Frame::Text(text))) => {
                            if let Some(end) = self.on_text(&text, waiters).await? {
                                return Ok(end);
                            }
                        }
                        Some(Ok(Frame::Close { code, reason })) => {
                            let reason = if reason.is_empty() {
                                "the server closed the connection".to_owned()
                            } else {
                                format!("the server closed the connection: {code} {reason}")
                            };
                            return Ok(self.lost(reason));
                        }
                        Some(Err(error)) => return Ok(self.lost(format!("the connection failed: {error}"))),
                        None => return Ok(self.lost("the connection ended".to_owned())),
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::SyncNow(reply)) => self.on_sync_now(reply, waiters).await?,
                    Some(Command::Close(done)) => {
                        self.link.close().await;
                        return Ok(End::Closed(done));
                    }
                    Some(Command::Streams) => self.send_subscriptions().await?,
                    None => {
                        self.link.close().await;
                        return Ok(End::Dropped);
                    }
                },
                () = shared.wake.notified() => self.fill().await?,
                () = sleep_until(deadline) => return Ok(self.lost(why)),
                () = sleep_until(ready_at.unwrap_or(far)), if ready_at.is_some() => {
                    self.flush.ready_at = None;
                    self.fill().await?;
                }
                () = sleep_until(gap_at.unwrap_or(far)), if gap_at.is_some() => {
                    self.feed.gap_at = None;
                    if self.has_gap() {
                        self.start_round(waiters);
                    }
                }
                _ = pings.tick() => {
                    self.link.send(wire::ping());
                    if self.check_due() {
                        self.start_round(waiters);
                    }
                }
            }
        }
    }

    /// The next moment the session gives up waiting, and why.
    fn deadline(&self) -> (Instant, String) {
        let config = &self.shared.config;
        let silence = (config.ping_interval * 3).max(config.answer_timeout);
        let mut deadline = (
            self.link.last_heard + silence,
            format!("the server was silent for {silence:?}"),
        );
        let mut earlier = |at: Instant, why: String| {
            if at < deadline.0 {
                deadline = (at, why);
            }
        };
        if !self.greeting.greeted {
            earlier(
                self.link.connected_at + config.connect_timeout,
                "the server did not answer hello".to_owned(),
            );
        }
        if let Some(sent_at) = self.flush.oldest_sent_at() {
            earlier(
                sent_at + config.answer_timeout,
                format!("no answer to changes within {:?}", config.answer_timeout),
            );
        }
        if let Some(requested_at) = self.feed.rounds.requested_at {
            earlier(
                requested_at + config.answer_timeout,
                format!("no page of changes within {:?}", config.answer_timeout),
            );
        }
        if let Some(heard) = self.streams.waiting_since() {
            earlier(
                heard + config.answer_timeout,
                format!(
                    "no progress of a subscription's catch-up within {:?}",
                    config.answer_timeout
                ),
            );
        }
        deadline
    }

    /// Records a tenant cursor the server mentioned.
    fn learn_cursor(&mut self, cursor: u64) {
        let known = &mut self.feed.known_cursor;
        if cursor > *known || self.shared.status.borrow().server_cursor.is_none() {
            *known = (*known).max(cursor);
            self.shared.set_server_cursor(*known);
        }
    }

    fn lost(&self, reason: String) -> End {
        End::Lost {
            reason,
            greeted: self.greeting.greeted,
        }
    }

    async fn on_text(&mut self, text: &str, waiters: &mut Vec<Waiter>) -> Result<Option<End>> {
        let Some(message) = wire::decode(text) else {
            return Ok(None);
        };
        match message {
            ServerMessage::Status(Status {
                status: StatusKind::Online,
                ..
            }) if self.greeting.hello_sent.is_none() => {
                self.link
                    .send(wire::hello(&self.shared.client_id, self.feed.cursor));
                self.greeting.hello_sent = Some(Instant::now());
            }
            // A repeated `online`.
            ServerMessage::Status(Status {
                status: StatusKind::Online,
                ..
            }) => {}
            ServerMessage::Status(Status { status, message }) => {
                let message = message
                    .map(|message| format!(": {message}"))
                    .unwrap_or_default();
                return Ok(Some(
                    self.lost(format!("the server sent status {status}{message}")),
                ));
            }
            ServerMessage::Welcome(welcome) => self.on_welcome(welcome, waiters).await?,
            ServerMessage::Changes(page) => self.on_page(page, waiters).await?,
            ServerMessage::Ack(ack) => self.on_answer(Answer::Ack(ack), waiters).await?,
            ServerMessage::Nack(nack) => self.on_answer(Answer::Nack(nack), waiters).await?,
            ServerMessage::DataUpdate(update) => self.on_data_update(update).await?,
            ServerMessage::Subscribed(subscribed) => self.on_subscribed(subscribed).await?,
            ServerMessage::SubscriptionError(error) => {
                self.on_subscription_error(error, waiters).await?;
            }
            ServerMessage::StreamPage(page) => self.on_stream_page(page).await?,
            ServerMessage::BucketSnapshot(snapshot) => self.on_bucket_snapshot(snapshot).await?,
            ServerMessage::BucketRemoved(removed) => self.on_bucket_removed(removed).await?,
            ServerMessage::Checkpoint(checkpoint) => {
                self.on_checkpoint(checkpoint, waiters).await?;
            }
            ServerMessage::Error(error) => {
                tracing::warn!(message = %error.message, "the server refused a message");
                match error.original_type.as_deref() {
                    // A server without partial sync: its subscriptions are refused.
                    Some("subscribe") => {
                        self.on_subscribe_refused(&error.message, waiters).await?;
                    }
                    // Ending a subscription the server did not hold: nothing to undo.
                    Some("unsubscribe") => {}
                    _ if self.feed.rounds.requested_at.is_some() => {
                        return Ok(Some(self.lost(format!(
                            "the server could not serve changes: {}",
                            error.message
                        ))));
                    }
                    _ => {}
                }
            }
            // Pings, pongs, and the answers to messages this client never sends.
            _ => {}
        }
        Ok(None)
    }

    async fn on_welcome(&mut self, welcome: Welcome, waiters: &mut [Waiter]) -> Result<()> {
        let Welcome {
            server_time,
            cursor,
            limits,
            ..
        } = welcome;
        let limits = limits.or_defaults();
        if self.greeting.greeted {
            return Ok(());
        }
        // The server's clock read half a round trip before the welcome arrived.
        let round_trip = self
            .greeting
            .hello_sent
            .map_or(Duration::ZERO, |sent| sent.elapsed());
        let local = self.shared.local_ms() - i64::try_from(round_trip.as_millis() / 2).unwrap_or(0);
        let offset = server_time - local;
        self.shared.clock.set_offset(offset);
        meta::set_offset(&mut *self.shared.replica.lock().await?, offset).await?;
        self.greeting.limits = limits;
        self.learn_cursor(cursor);
        self.greeting.greeted = true;
        tracing::debug!(offset, cursor, ?limits, "welcomed");
        self.shared.set_error(None);
        self.shared
            .set_connection(crate::status::Connection::Online);
        // Before the feed's first page: the server then leaves streamed entities out.
        self.send_subscriptions().await?;
        self.start_round(waiters);
        Ok(())
    }
}
