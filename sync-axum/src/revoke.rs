//! Ending the connections of a login session: when an app revokes a session (a logout), every
//! connection admitted under it is closed with 1008.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::{Sink, Stream, StreamExt};
use sync_core::session::{Outbound, close};
use tokio::sync::watch;

/// The close reason of a connection whose login session ended.
pub(crate) const REASON: &str = "logged out";

/// The open connections of each login session, by its id.
#[derive(Default)]
pub(crate) struct Revocations {
    sessions: Mutex<HashMap<String, Watched>>,
    /// Numbers each entry of `sessions`, so a connection of a revoked entry never counts
    /// itself out of a later one of the same id.
    entries: AtomicU64,
}

/// One login session's connections: the signal that ends them, and how many there are.
struct Watched {
    revoked: watch::Sender<bool>,
    connections: usize,
    entry: u64,
}

impl Revocations {
    /// A watch on `session`, held for as long as the connection is open.
    pub(crate) fn watch(self: &Arc<Revocations>, session: &str) -> Watch {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let watched = sessions
            .entry(session.to_owned())
            .or_insert_with(|| Watched {
                revoked: watch::channel(false).0,
                connections: 0,
                entry: self.entries.fetch_add(1, Ordering::Relaxed),
            });
        watched.connections += 1;
        let receiver = watched.revoked.subscribe();
        Watch {
            revocations: self.clone(),
            session: session.to_owned(),
            entry: watched.entry,
            receiver: Some(receiver),
        }
    }

    /// Ends every connection of `session`; how many there were.
    pub(crate) fn revoke(&self, session: &str) -> usize {
        let watched = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(session);
        watched.map_or(0, |watched| {
            watched.revoked.send_replace(true);
            watched.connections
        })
    }
}

/// One connection's watch on its login session; dropping it forgets the session once no
/// connection of it is left.
pub(crate) struct Watch {
    revocations: Arc<Revocations>,
    session: String,
    entry: u64,
    receiver: Option<watch::Receiver<bool>>,
}

impl Watch {
    fn receiver(&self) -> watch::Receiver<bool> {
        self.receiver
            .clone()
            .unwrap_or_else(|| watch::channel(true).1)
    }

    /// `inbound`, ending when the session is revoked: the connection's session then ends
    /// as if its client had left.
    pub(crate) fn until_revoked<I: Stream + Unpin>(
        &self,
        inbound: I,
    ) -> impl Stream<Item = I::Item> + Unpin + use<I> {
        let mut receiver = self.receiver();
        let revoked: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            if receiver.wait_for(|revoked| *revoked).await.is_err() {
                std::future::pending::<()>().await;
            }
        });
        inbound.take_until(revoked)
    }

    /// `outbound`, sending close 1008 [`REASON`] before it closes when the session was
    /// revoked and no close frame went out yet.
    pub(crate) fn close_when_revoked<O>(&self, outbound: O) -> CloseWhenRevoked<O> {
        CloseWhenRevoked {
            inner: outbound,
            revoked: self.receiver(),
            closing: false,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut sessions = self
            .revocations
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Absent, or another entry, once revoked.
        if let Some(watched) = sessions
            .get_mut(&self.session)
            .filter(|watched| watched.entry == self.entry)
        {
            watched.connections -= 1;
            if watched.connections == 0 {
                sessions.remove(&self.session);
            }
        }
    }
}

/// See [`Watch::close_when_revoked`].
pub(crate) struct CloseWhenRevoked<O> {
    inner: O,
    revoked: watch::Receiver<bool>,
    /// A close frame was sent (by the session or by this sink).
    closing: bool,
}

impl<O: Sink<Outbound> + Unpin> Sink<Outbound> for CloseWhenRevoked<O> {
    type Error = O::Error;

    fn poll_ready(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), O::Error>> {
        Pin::new(&mut self.inner).poll_ready(context)
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Outbound) -> Result<(), O::Error> {
        if matches!(frame, Outbound::Close { .. }) {
            self.closing = true;
        }
        Pin::new(&mut self.inner).start_send(frame)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), O::Error>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), O::Error>> {
        let this = &mut *self;
        if !this.closing && *this.revoked.borrow() {
            std::task::ready!(Pin::new(&mut this.inner).poll_ready(context))?;
            this.closing = true;
            Pin::new(&mut this.inner).start_send(Outbound::Close {
                code: close::POLICY,
                reason: REASON,
            })?;
        }
        Pin::new(&mut this.inner).poll_close(context)
    }
}

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use futures::channel::mpsc;

    use super::*;

    #[tokio::test]
    async fn a_revoked_session_ends_inbound_and_closes_with_1008() {
        let revocations = Arc::new(Revocations::default());
        let watch = revocations.watch("s1");
        let other = revocations.watch("s2");
        let (frames, received) = mpsc::unbounded::<u32>();
        let mut inbound = watch.until_revoked(received);
        frames.unbounded_send(1).unwrap();
        assert_eq!(inbound.next().await, Some(1));

        assert_eq!(revocations.revoke("s1"), 1);
        assert_eq!(inbound.next().await, None, "inbound ends at the revocation");
        let (sent, mut out) = mpsc::unbounded::<Outbound>();
        let mut outbound = watch.close_when_revoked(sent);
        outbound.close().await.unwrap();
        assert_eq!(
            out.next().await,
            Some(Outbound::Close {
                code: close::POLICY,
                reason: REASON
            })
        );
        assert_eq!(revocations.revoke("s1"), 0, "revoked once");
        drop((watch, other));
        assert!(
            revocations.sessions.lock().unwrap().is_empty(),
            "nothing kept"
        );
    }

    #[tokio::test]
    async fn a_close_the_session_sent_is_not_doubled() {
        let revocations = Arc::new(Revocations::default());
        let watch = revocations.watch("s1");
        revocations.revoke("s1");
        let (sent, out) = mpsc::unbounded::<Outbound>();
        let mut outbound = watch.close_when_revoked(sent);
        let shutdown = Outbound::Close {
            code: close::GOING_AWAY,
            reason: "server shutting down",
        };
        outbound.send(shutdown.clone()).await.unwrap();
        outbound.close().await.unwrap();
        assert_eq!(out.collect::<Vec<_>>().await, [shutdown]);
    }
}
