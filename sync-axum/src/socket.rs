//! axum's WebSocket as the `Stream`/`Sink` pair a `sync_core` session runs over.

use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::task::{ArcWake, AtomicWaker};
use futures::{Sink, SinkExt, Stream, StreamExt};
use sync_core::session::{Inbound, Outbound};

/// Splits `socket` into session frames: inbound ends at a close frame or a read error; a
/// message over the size limit becomes [`Inbound::TooLarge`].
pub(crate) fn split(
    socket: WebSocket,
) -> (
    impl Stream<Item = Inbound> + Unpin + Send,
    impl Sink<Outbound> + Unpin + Send,
) {
    let (sink, stream) = socket.split();
    let inbound = WakeGated::new(stream)
        .map(|frame| match frame {
            Ok(Message::Text(text)) => Some(Inbound::Text(text.as_str().to_owned())),
            Ok(Message::Binary(_)) => Some(Inbound::Binary),
            Ok(Message::Ping(_) | Message::Pong(_)) => Some(Inbound::Activity),
            Ok(Message::Close(_)) => None,
            Err(error) if is_too_large(&error) => Some(Inbound::TooLarge),
            Err(error) => {
                tracing::debug!(%error, "connection read failed");
                None
            }
        })
        .take_while(|frame| ready(frame.is_some()))
        .filter_map(ready);
    let outbound = sink.with(|frame: Outbound| {
        ready(Ok::<_, axum::Error>(match frame {
            Outbound::Text(text) => Message::Text(Utf8Bytes::from(&*text)),
            Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            })),
        }))
    });
    (Box::pin(inbound), Box::pin(outbound))
}

/// Ends `inbound` when its first frame does not come within `timeout`: a client that
/// upgrades and then says nothing does not hold a connection for the idle timeout.
pub(crate) fn first_within<S: Stream + Unpin>(
    mut inbound: S,
    timeout: std::time::Duration,
) -> impl Stream<Item = S::Item> + Unpin {
    let mut deadline = Some(Box::pin(tokio::time::sleep(timeout)));
    futures::stream::poll_fn(move |context| {
        if let Some(sleep) = &mut deadline
            && sleep.as_mut().poll(context).is_ready()
        {
            tracing::info!("no first message in time; closing");
            return Poll::Ready(None);
        }
        let polled = inbound.poll_next_unpin(context);
        if polled.is_ready() {
            deadline = None;
        }
        polled
    })
}

/// Whether a read failed because a message exceeded the size limit.
fn is_too_large(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("too long") || text.contains("Space limit exceeded")
}

/// Polls a stream only after it has signalled its waker since it last returned `Pending`.
///
/// A session polls its inbound stream each time anything wakes it (a hub delivery, an
/// ACK). tungstenite zero-fills its whole read buffer on every read attempt, even one that
/// finds nothing to read, which made that 4 KiB `memset` 40% of the server's work in a
/// fan-out to 1,000 sessions. Behind this gate a read is attempted only when the socket
/// has said it may have data.
struct WakeGated<S> {
    inner: S,
    gate: Arc<Gate>,
    waker: Waker,
}

struct Gate {
    /// The inner stream woke since its last `Pending` (or has not been polled yet).
    woken: AtomicBool,
    /// The task polling the gated stream.
    outer: AtomicWaker,
}

impl ArcWake for Gate {
    fn wake_by_ref(gate: &Arc<Gate>) {
        gate.woken.store(true, Ordering::Release);
        gate.outer.wake();
    }
}

impl<S> WakeGated<S> {
    fn new(inner: S) -> WakeGated<S> {
        let gate = Arc::new(Gate {
            woken: AtomicBool::new(true),
            outer: AtomicWaker::new(),
        });
        let waker = futures::task::waker(gate.clone());
        WakeGated { inner, gate, waker }
    }
}

impl<S: Stream + Unpin> Stream for WakeGated<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        this.gate.outer.register(context.waker());
        if !this.gate.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut this.inner).poll_next(&mut Context::from_waker(&this.waker));
        if polled.is_ready() {
            // More may be buffered: the next poll reads again.
            this.gate.woken.store(true, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::mpsc;

    use super::*;

    /// A channel's receiver that counts how often it is polled.
    struct Counted {
        receiver: mpsc::UnboundedReceiver<u32>,
        polls: usize,
    }

    impl Stream for Counted {
        type Item = u32;

        fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<u32>> {
            self.polls += 1;
            self.receiver.poll_next_unpin(context)
        }
    }

    #[test]
    fn a_gated_stream_is_polled_only_after_it_woke() {
        let (sender, receiver) = mpsc::unbounded();
        let mut gated = WakeGated::new(Counted { receiver, polls: 0 });
        let mut context = Context::from_waker(Waker::noop());
        assert!(gated.poll_next_unpin(&mut context).is_pending());
        assert!(gated.poll_next_unpin(&mut context).is_pending());
        assert_eq!(gated.inner.polls, 1, "not woken, not polled again");
        sender.unbounded_send(7).unwrap();
        sender.unbounded_send(8).unwrap();
        assert_eq!(gated.poll_next_unpin(&mut context), Poll::Ready(Some(7)));
        assert_eq!(gated.poll_next_unpin(&mut context), Poll::Ready(Some(8)));
        assert!(gated.poll_next_unpin(&mut context).is_pending());
        assert_eq!(gated.inner.polls, 4);
        drop(sender);
        assert_eq!(gated.poll_next_unpin(&mut context), Poll::Ready(None));
    }
}
