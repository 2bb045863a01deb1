//! One session's queue of deliveries: the hub pushes without waiting, the session pops.
//!
//! A tokio channel would cost every session about 900 bytes before its first message (its
//! shared state and a first block of 32 slots); this queue is one small allocation until
//! messages arrive, and gives back a grown buffer once drained. An idle connection is
//! mostly what it keeps, so the difference is a sixth of an idle connection's cost.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

use super::Cut;

/// A drained buffer above this capacity is freed rather than kept.
const KEPT_CAPACITY: usize = 16;

/// The queue, shared by the hub's publishers and the session.
#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<State>,
    /// The session's task, woken by a push or the end.
    waker: AtomicWaker,
}

#[derive(Default)]
struct State {
    messages: VecDeque<Arc<str>>,
    /// Bytes of `messages`.
    bytes: usize,
    /// Set once the hub delivers no more: the session reads what is queued, then this.
    ended: Option<Cut>,
}

/// Why [`Queue::push`] refused a message.
pub(super) enum Full {
    /// The queue holds its bound of messages or bytes.
    Full,
    /// The queue ended before.
    Ended,
}

impl Queue {
    pub(super) fn new() -> Arc<Queue> {
        Arc::new(Queue::default())
    }

    /// Queues `message` unless the queue holds `depth` messages, or its bytes would pass
    /// `max_bytes` (a message larger than that still enters an empty queue).
    pub(super) fn push(
        &self,
        message: &Arc<str>,
        depth: usize,
        max_bytes: usize,
    ) -> Result<(), Full> {
        let mut state = self.lock();
        if state.ended.is_some() {
            return Err(Full::Ended);
        }
        let over_bytes = state.bytes > 0 && state.bytes + message.len() > max_bytes;
        if state.messages.len() >= depth || over_bytes {
            return Err(Full::Full);
        }
        state.bytes += message.len();
        state.messages.push_back(message.clone());
        drop(state);
        self.waker.wake();
        Ok(())
    }

    /// Ends the queue with `cut`, unless it ended before; the session reads what is
    /// queued, then the cut.
    pub(super) fn end(&self, cut: Cut) {
        self.lock().ended.get_or_insert(cut);
        self.waker.wake();
    }

    /// The next message, or the cut once the queue is drained and ended.
    pub(super) fn poll_pop(&self, context: &mut Context<'_>) -> Poll<Result<Arc<str>, Cut>> {
        if let Some(popped) = self.try_pop() {
            return Poll::Ready(popped);
        }
        self.waker.register(context.waker());
        // A push between the first look and the registration has woken no one: look again.
        match self.try_pop() {
            Some(popped) => Poll::Ready(popped),
            None => Poll::Pending,
        }
    }

    /// The next message, the cut once drained and ended, or `None` while it waits.
    pub(super) fn try_pop(&self) -> Option<Result<Arc<str>, Cut>> {
        let mut state = self.lock();
        match state.messages.pop_front() {
            Some(message) => {
                state.bytes -= message.len();
                if state.messages.is_empty() && state.messages.capacity() > KEPT_CAPACITY {
                    state.messages = VecDeque::new();
                }
                Some(Ok(message))
            }
            None => state.ended.map(Err),
        }
    }

    /// Bytes queued.
    pub(super) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a few field writes that leave the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_a_push_and_by_the_end() {
        let queue = Queue::new();
        let pusher = queue.clone();
        let pushed = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(pusher.push(&Arc::from("m"), 8, 1024).is_ok());
            tokio::time::sleep(Duration::from_millis(20)).await;
            pusher.end(Cut::Lagged);
        });
        let next = std::future::poll_fn(|context| queue.poll_pop(context));
        assert_eq!(&*next.await.unwrap(), "m");
        let next = std::future::poll_fn(|context| queue.poll_pop(context));
        assert_eq!(next.await.unwrap_err(), Cut::Lagged);
        pushed.await.unwrap();
        assert!(matches!(
            queue.push(&Arc::from("late"), 8, 1024),
            Err(Full::Ended)
        ));
    }

    #[test]
    fn a_drained_queue_gives_back_its_grown_buffer() {
        let queue = Queue::new();
        for _ in 0..500 {
            assert!(queue.push(&Arc::from("m"), 1000, 1 << 20).is_ok());
        }
        assert!(queue.lock().messages.capacity() >= 500);
        while let Some(Ok(_)) = queue.try_pop() {}
        assert!(queue.lock().messages.capacity() <= KEPT_CAPACITY);
        assert_eq!(queue.bytes(), 0);
    }
}
