//! A sink that fails when its peer stops taking frames for too long.
//!
//! A client that never reads fills its socket, then the transport's buffers, then the
//! session would wait forever on its next send while its hub queue fills. Behind this
//! sink a send or flush that makes no progress for [`Config::send_timeout`] fails, the
//! session ends with 1013 and everything it held is released; the client catches up from
//! its cursor when it returns.
//!
//! [`Config::send_timeout`]: super::Config::send_timeout

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Sink;
use tokio::time::{Instant, Sleep};

/// Why a [`Deadline`] sink failed.
#[derive(Debug)]
pub(super) enum SendError<E> {
    /// The inner sink failed.
    Inner(E),
    /// The inner sink took nothing for the whole timeout.
    Stalled,
}

/// Wraps a sink so that a `poll_ready`, `poll_flush` or `poll_close` that stays pending for
/// `timeout` fails with [`SendError::Stalled`].
pub(super) struct Deadline<O> {
    inner: O,
    timeout: Duration,
    /// Armed while the inner sink is pending.
    timer: Option<Pin<Box<Sleep>>>,
    stalled: bool,
}

impl<O> Deadline<O> {
    pub(super) fn new(inner: O, timeout: Duration) -> Deadline<O> {
        Deadline {
            inner,
            timeout,
            timer: None,
            stalled: false,
        }
    }

    /// Whether a send failed because the peer took nothing for the whole timeout.
    pub(super) fn stalled(&self) -> bool {
        self.stalled
    }

    /// Gives the next sends `timeout`, e.g. a short grace for a last close frame.
    pub(super) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.timer = None;
    }

    fn guard<T, E>(
        &mut self,
        context: &mut Context<'_>,
        polled: Poll<Result<T, E>>,
    ) -> Poll<Result<T, SendError<E>>> {
        match polled {
            Poll::Ready(result) => {
                self.timer = None;
                Poll::Ready(result.map_err(SendError::Inner))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self.timer.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + timeout))
                });
                match timer.as_mut().poll(context) {
                    Poll::Ready(()) => {
                        self.timer = None;
                        self.stalled = true;
                        Poll::Ready(Err(SendError::Stalled))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<O: Sink<T> + Unpin, T> Sink<T> for Deadline<O> {
    type Error = SendError<O::Error>;

    fn poll_ready(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        let polled = Pin::new(&mut self.inner).poll_ready(context);
        self.guard(context, polled)
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        Pin::new(&mut self.inner)
            .start_send(item)
            .map_err(SendError::Inner)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        let polled = Pin::new(&mut self.inner).poll_flush(context);
        self.guard(context, polled)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        let polled = Pin::new(&mut self.inner).poll_close(context);
        self.guard(context, polled)
    }
}

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use futures::channel::mpsc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_sink_that_takes_nothing_fails_after_the_timeout() {
        let (sender, mut receiver) = mpsc::channel::<u32>(2);
        let mut sink = Deadline::new(sender, Duration::from_secs(5));
        let mut sent = 0;
        // The channel fills; the next send waits for a reader that never comes.
        let stalled = loop {
            match sink.send(sent).await {
                Ok(()) => sent += 1,
                Err(error) => break error,
            }
            assert!(sent < 100, "a full channel must stall the sink");
        };
        assert!(matches!(stalled, SendError::Stalled));
        assert!(sink.stalled());
        assert_eq!(futures::StreamExt::next(&mut receiver).await, Some(0));
    }
}
