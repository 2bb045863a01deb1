//! One connected session: greeting, catch-up, flushing the outbox, live changes.
//!
//! ```text
//! status online ─▶ hello ─▶ welcome ─▶ request_changes … (pages) ─▶ process_sync_batch …
//!                                                                   data_update (any time)
//! ```
//!
//! At most `max_in_flight` batches wait for their answers; each batch's answers are
//! settled together, in one transaction, once all have arrived. A batch or a page that is
//! not answered within the answer timeout, or a server that stays silent, ends the
//! session: its unanswered entries go back to pending and the task reconnects.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use sync_core::version::Version;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod catchup;
mod flush;

use super::socket::Socket;
use super::wire::{self, Incoming, Limits};
use super::{Command, End, Waiter};
use crate::client::shared::Shared;
use crate::error::Result;
use crate::outbox::Sent;
use crate::replica::meta;
use crate::replica::settle::Answer;

/// Room left in a message for the batch's envelope.
const ENVELOPE_BYTES: usize = 256;

/// A batch waiting for its answers.
struct Batch {
    entries: Vec<Sent>,
    ids: HashSet<String>,
    answers: Vec<Answer>,
    /// The tenant cursor the client knew when it sent the batch.
    floor: u64,
    sent_at: Instant,
}

/// Catch-up rounds: a round asks for pages until `has_more` is false.
#[derive(Default)]
struct Rounds {
    started: u64,
    done: u64,
    /// When the outstanding page was requested, while a round runs.
    requested_at: Option<Instant>,
    /// Another round must follow the running one (a `sync_now` came during it).
    again: bool,
}

pub(super) struct Session<'a> {
    shared: &'a Shared,
    stream: SplitStream<Socket>,
    outgoing: mpsc::UnboundedSender<Message>,
    writer: tokio::task::JoinHandle<()>,
    connected_at: Instant,
    last_heard: Instant,
    hello_sent: Option<Instant>,
    greeted: bool,
    /// Whether the first catch-up round finished, so the outbox may be flushed.
    caught_up: bool,
    limits: Limits,
    /// The stored cursor.
    cursor: u64,
    /// The highest tenant cursor the server mentioned.
    known_cursor: u64,
    /// The tenant cursor after the last settled batch of this session.
    last_batch_cursor: Option<u64>,
    in_flight: VecDeque<Batch>,
    busy: HashSet<(String, String)>,
    rounds: Rounds,
    /// When to catch up on changes the live updates did not cover.
    gap_at: Option<Instant>,
    /// When the earliest pending entry in backoff becomes ready.
    ready_at: Option<Instant>,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

impl<'a> Session<'a> {
    pub(super) fn new(shared: &'a Shared, socket: Socket) -> Session<'a> {
        let (mut sink, stream) = socket.split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Message>();
        // The socket is written by its own task, so reading never waits for a write.
        let writer = tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let now = Instant::now();
        Session {
            shared,
            stream,
            outgoing,
            writer,
            connected_at: now,
            last_heard: now,
            hello_sent: None,
            greeted: false,
            caught_up: false,
            limits: Limits::default(),
            cursor: 0,
            known_cursor: 0,
            last_batch_cursor: None,
            in_flight: VecDeque::new(),
            busy: HashSet::new(),
            rounds: Rounds::default(),
            gap_at: None,
            ready_at: None,
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
        self.cursor = meta::cursor(&mut *shared.replica.lock().await?).await?;
        let every = shared.config.ping_interval;
        let mut pings = tokio::time::interval_at(Instant::now() + every, every);
        loop {
            let (deadline, why) = self.deadline();
            let far = Instant::now() + Duration::from_secs(86_400);
            let ready_at = self.ready_at;
            let gap_at = self.gap_at;
            tokio::select! {
                frame = self.stream.next() => {
                    self.last_heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            if let Some(end) = self.on_text(&text, waiters).await? {
                                return Ok(end);
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let reason = frame.map_or_else(
                                || "the server closed the connection".to_owned(),
                                |frame| format!("the server closed the connection: {} {}", u16::from(frame.code), frame.reason),
                            );
                            return Ok(self.lost(reason));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(error)) => return Ok(self.lost(format!("the connection failed: {error}"))),
                        None => return Ok(self.lost("the connection ended".to_owned())),
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::SyncNow(reply)) => self.on_sync_now(reply, waiters).await?,
                    Some(Command::Close(done)) => {
                        self.close().await;
                        return Ok(End::Closed(done));
                    }
                    None => {
                        self.close().await;
                        return Ok(End::Dropped);
                    }
                },
                () = shared.wake.notified() => self.fill().await?,
                _ = pings.tick() => self.send(wire::ping()),
                () = sleep_until(deadline) => return Ok(self.lost(why)),
                () = sleep_until(ready_at.unwrap_or(far)), if ready_at.is_some() => {
                    self.ready_at = None;
                    self.fill().await?;
                }
                () = sleep_until(gap_at.unwrap_or(far)), if gap_at.is_some() => {
                    self.gap_at = None;
                    if self.has_gap() {
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
            self.last_heard + silence,
            format!("the server was silent for {silence:?}"),
        );
        let mut earlier = |at: Instant, why: String| {
            if at < deadline.0 {
                deadline = (at, why);
            }
        };
        if !self.greeted {
            earlier(
                self.connected_at + config.connect_timeout,
                "the server did not answer hello".to_owned(),
            );
        }
        if let Some(batch) = self.in_flight.front() {
            earlier(
                batch.sent_at + config.answer_timeout,
                format!("no answer to changes within {:?}", config.answer_timeout),
            );
        }
        if let Some(requested_at) = self.rounds.requested_at {
            earlier(
                requested_at + config.answer_timeout,
                format!("no page of changes within {:?}", config.answer_timeout),
            );
        }
        deadline
    }

    /// Records a tenant cursor the server mentioned.
    fn learn_cursor(&mut self, cursor: u64) {
        if cursor > self.known_cursor || self.shared.status.borrow().server_cursor.is_none() {
            self.known_cursor = self.known_cursor.max(cursor);
            self.shared.set_server_cursor(self.known_cursor);
        }
    }

    fn lost(&self, reason: String) -> End {
        End::Lost {
            reason,
            greeted: self.greeted,
        }
    }

    fn send(&self, text: String) {
        // A failed write ends the writer; the read side then sees the connection end.
        let _ = self.outgoing.send(Message::text(text));
    }

    async fn close(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "client closing".into(),
        };
        let _ = self.outgoing.send(Message::Close(Some(frame)));
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.writer).await;
    }

    async fn on_text(&mut self, text: &str, waiters: &mut Vec<Waiter>) -> Result<Option<End>> {
        match wire::decode(text) {
            Incoming::Status { status, message } => {
                if status == "online" {
                    if self.hello_sent.is_none() {
                        self.send(wire::hello(&self.shared.client_id, self.cursor));
                        self.hello_sent = Some(Instant::now());
                    }
                } else {
                    let message = message
                        .map(|message| format!(": {message}"))
                        .unwrap_or_default();
                    return Ok(Some(
                        self.lost(format!("the server sent status {status:?}{message}")),
                    ));
                }
            }
            Incoming::Welcome {
                server_time,
                cursor,
                limits,
            } => {
                self.on_welcome(server_time, cursor, limits, waiters)
                    .await?
            }
            Incoming::Changes {
                changes,
                cursor,
                has_more,
                reset,
            } => {
                self.on_page(changes, cursor, has_more, reset, waiters)
                    .await?;
            }
            Incoming::Answer(answer) => self.on_answer(answer, waiters).await?,
            Incoming::DataUpdate(change) => self.on_data_update(change).await?,
            Incoming::Error { message } => {
                tracing::warn!(%message, "the server refused a message");
                if self.rounds.requested_at.is_some() {
                    return Ok(Some(
                        self.lost(format!("the server could not serve changes: {message}")),
                    ));
                }
            }
            Incoming::Ignored => {}
        }
        Ok(None)
    }

    async fn on_welcome(
        &mut self,
        server_time: i64,
        cursor: u64,
        limits: Limits,
        waiters: &mut [Waiter],
    ) -> Result<()> {
        if self.greeted {
            return Ok(());
        }
        // The server's clock read half a round trip before the welcome arrived.
        let round_trip = self
            .hello_sent
            .map_or(Duration::ZERO, |sent| sent.elapsed());
        let local =
            Version::now().as_millis() - i64::try_from(round_trip.as_millis() / 2).unwrap_or(0);
        let offset = server_time - local;
        self.shared.clock.set_offset(offset);
        meta::set_offset(&mut *self.shared.replica.lock().await?, offset).await?;
        self.limits = limits;
        self.learn_cursor(cursor);
        self.greeted = true;
        tracing::debug!(offset, cursor, ?limits, "welcomed");
        self.shared.set_error(None);
        self.shared
            .set_connection(crate::status::Connection::Online);
        self.start_round(waiters);
        Ok(())
    }
}
