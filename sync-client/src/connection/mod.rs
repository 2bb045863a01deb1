//! The connection task: connects, runs a [`session`] while connected, and reconnects with
//! exponential backoff and jitter when the connection fails or is lost.
//!
//! Layering: the session speaks the protocol ([`wire`]) over a [`transport`] (a `Stream`
//! and a `Sink` of frames), opened by the client's [`Connector`](transport::Connector);
//! the WebSocket adapter ([`socket`], feature `websocket`) is one connector.

mod session;
#[cfg(feature = "websocket")]
pub(crate) mod socket;
pub mod transport;
pub(crate) mod wire;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::client::shared::Shared;
use crate::error::{Error, Result};
use crate::outbox;
use crate::status::{Connection, Refusal};
use crate::transport::{BoxError, Refused};

/// What a client handle asks of its connection task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Answer when the outbox is empty and the replica has caught up.
    SyncNow(oneshot::Sender<Result<()>>),
    /// Close the connection and stop; answer when done.
    Close(oneshot::Sender<()>),
    /// The subscriptions changed: send the new ones, end the ended ones.
    Streams,
}

/// A `sync_now` waiting for its answer.
#[derive(Debug)]
pub(crate) struct Waiter {
    reply: oneshot::Sender<Result<()>>,
    /// The catch-up round that must finish first; `None` until one starts.
    round: Option<u64>,
}

impl Waiter {
    fn answer(self, result: Result<()>) {
        let _ = self.reply.send(result);
    }
}

/// Why a session ended.
enum End {
    /// `close()` was called; the sender wants to know when the task is done.
    Closed(oneshot::Sender<()>),
    /// Every handle is gone.
    Dropped,
    /// The connection failed or was lost.
    Lost {
        reason: String,
        /// Whether the server had greeted the session (so the backoff starts over).
        greeted: bool,
    },
}

/// Runs until `close()` or until every handle is dropped.
pub(crate) async fn run(shared: Arc<Shared>, mut commands: mpsc::Receiver<Command>) {
    let mut waiters: Vec<Waiter> = Vec::new();
    let mut failures: u32 = 0;
    // Whether the last attempt's credentials were refused (the provider was then asked
    // for new ones: refused again, the client stops).
    let mut refused_before = false;
    loop {
        shared.set_connection(Connection::Connecting);
        let connect =
            tokio::time::timeout(shared.config.connect_timeout, shared.connector.connect());
        tokio::pin!(connect);
        let connected = loop {
            tokio::select! {
                biased;
                result = &mut connect => break match result {
                    Ok(Ok(transport)) => Ok(transport),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(BoxError::from("the connection attempt timed out")),
                },
                command = commands.recv() => match command {
                    Some(Command::SyncNow(reply)) => waiters.push(Waiter { reply, round: None }),
                    Some(Command::Close(done)) => return finish(&shared, waiters, Some(done)).await,
                    // Offline: the next session sends every subscription.
                    Some(Command::Streams) => {}
                    None => return finish(&shared, waiters, None).await,
                },
            }
        };
        let mut retry_after = None;
        let reason = match connected {
            Ok(transport) => {
                refused_before = false;
                tracing::debug!(url = %shared.config.url, "connected");
                let end = session::Session::new(&shared, transport)
                    .run(&mut commands, &mut waiters)
                    .await;
                settle_disconnect(&shared).await;
                match end {
                    End::Closed(done) => return finish(&shared, waiters, Some(done)).await,
                    End::Dropped => return finish(&shared, waiters, None).await,
                    End::Lost { reason, greeted } => {
                        if greeted {
                            failures = 0;
                        }
                        reason
                    }
                }
            }
            Err(error) => {
                let refused = error.downcast_ref::<Refused>();
                if let Some((refusal, refused)) = refused.and_then(|refused| {
                    Refusal::from_status(refused.status()).map(|refusal| (refusal, refused))
                }) {
                    if refused_before {
                        let detail = refused.detail().unwrap_or_default().to_owned();
                        return stop_refused(&shared, waiters, &mut commands, refusal, detail)
                            .await;
                    }
                    refused_before = true;
                    tracing::info!(%error, "credentials refused; asking for new ones");
                    shared.set_error(Some(error.to_string()));
                    continue;
                }
                retry_after = refused.and_then(Refused::retry_after);
                error.to_string()
            }
        };
        tracing::info!(%reason, "offline");
        shared.set_connection(Connection::Offline);
        shared.set_error(Some(reason.clone()));
        for waiter in waiters.drain(..) {
            waiter.answer(Err(Error::Offline(reason.clone())));
        }

        let delay = shared.backoff(&shared.config.reconnect, failures).max(
            retry_after
                .unwrap_or(Duration::ZERO)
                .min(shared.config.reconnect.ceiling(u32::MAX)),
        );
        failures = failures.saturating_add(1);
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        tokio::select! {
            biased;
            () = &mut sleep => {}
            command = commands.recv() => match command {
                // Someone waits: try now rather than at the end of the backoff.
                Some(Command::SyncNow(reply)) => waiters.push(Waiter { reply, round: None }),
                Some(Command::Close(done)) => return finish(&shared, waiters, Some(done)).await,
                Some(Command::Streams) => {}
                None => return finish(&shared, waiters, None).await,
            },
        }
    }
}

/// After a session: entries that were sent and not answered go back to pending.
async fn settle_disconnect(shared: &Shared) {
    let result = async {
        let mut conn = shared.replica.lock().await?;
        let failed = outbox::requeue_processing(&mut conn, shared.config.max_attempts).await?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "gave up on changes sent too many times without an answer"
            );
        }
        shared.refresh_counts(&mut conn).await
    }
    .await;
    if let Err(error) = result {
        tracing::error!(%error, "could not put unanswered changes back to pending");
    }
}

/// The credentials were refused twice in a row: no more connection attempts. Every
/// `sync_now` is answered with [`Error::Refused`] until the client is closed or dropped.
async fn stop_refused(
    shared: &Shared,
    waiters: Vec<Waiter>,
    commands: &mut mpsc::Receiver<Command>,
    refusal: Refusal,
    detail: String,
) {
    tracing::warn!(%refusal, %detail, "the server refused the credentials; not reconnecting");
    shared.set_connection(Connection::Refused(refusal));
    shared.set_error(Some(format!(
        "the server refused the credentials ({refusal}): {detail}"
    )));
    let error = || Error::Refused {
        refusal,
        detail: detail.clone(),
    };
    for waiter in waiters {
        waiter.answer(Err(error()));
    }
    loop {
        match commands.recv().await {
            Some(Command::SyncNow(reply)) => {
                let _ = reply.send(Err(error()));
            }
            Some(Command::Close(done)) => return finish(shared, Vec::new(), Some(done)).await,
            Some(Command::Streams) => {}
            None => return finish(shared, Vec::new(), None).await,
        }
    }
}

async fn finish(shared: &Shared, waiters: Vec<Waiter>, done: Option<oneshot::Sender<()>>) {
    for waiter in waiters {
        waiter.answer(Err(Error::Closed));
    }
    shared.set_connection(Connection::Closed);
    if let Some(done) = done {
        let _ = done.send(());
    }
}
