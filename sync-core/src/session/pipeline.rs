//! A session's pipeline: the messages read ahead, answered strictly in arrival order.
//!
//! Entries are submitted to the tenant's writer as they arrive, so the writer's group commit
//! takes a client's pipelined entries together; their replies leave in arrival order, each
//! once everything before it has been answered. A read of the store (`request_changes`,
//! `hello`, ...) is a barrier: it starts once every entry before it is answered, so it sees
//! their effects, and nothing after it is read until it is answered.
//!
//! The pipeline holds at most `max_in_flight` changes (a slot that is not an entry counts as
//! one), except that a batch larger than that is admitted alone. The session stops reading
//! its client while the pipeline is full, so the transport pushes back.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use futures::FutureExt;
use futures::future::BoxFuture;

use super::Session;
use super::handle::{self, Done, Step};
use crate::engine::SubmitError;
use crate::hub::SessionId;
use crate::outcome::{BatchOutcome, Rejection};
use crate::protocol::{Entry, Reply};
use crate::store::Store;
use crate::version::Version;

type Commit<'a> = BoxFuture<'a, Result<Option<BatchOutcome>, SubmitError>>;

/// One message waiting for its turn to be answered.
enum Slot<'a> {
    /// Answered already.
    Ready(Vec<Reply>),
    /// Entries at the writer, or answered by it.
    Entries {
        entries: Vec<Entry>,
        verdicts: Vec<Result<usize, Rejection>>,
        commit: Submission<'a>,
    },
    /// A read; it is admitted only into an empty pipeline, so it runs alone.
    Read(BoxFuture<'a, Done>),
}

enum Submission<'a> {
    Waiting(Commit<'a>),
    Finished(Result<Option<BatchOutcome>, SubmitError>),
}

impl Slot<'_> {
    fn weight(&self) -> usize {
        match self {
            Slot::Entries { entries, .. } => entries.len().max(1),
            Slot::Ready(_) | Slot::Read(_) => 1,
        }
    }
}

pub(super) struct Pipeline<'a, S> {
    session: &'a Session<S>,
    slots: VecDeque<Slot<'a>>,
    /// The sum of the slots' weights.
    weight: usize,
    /// The most weight read ahead.
    limit: usize,
    /// Whether a read is in the pipeline.
    reading: bool,
}

impl<'a, S: Store> Pipeline<'a, S> {
    pub(super) fn new(session: &'a Session<S>) -> Pipeline<'a, S> {
        Pipeline {
            session,
            slots: VecDeque::new(),
            weight: 0,
            limit: session.config.max_in_flight.max(1),
            reading: false,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many changes (and other messages) are in the pipeline.
    pub(super) fn weight(&self) -> usize {
        self.weight
    }

    /// Whether the session may read another message now.
    pub(super) fn wants_more(&self) -> bool {
        self.weight < self.limit && !self.reading
    }

    /// Whether `step` may join the pipeline now; if not, the session holds it (and reads
    /// nothing more) until it may.
    pub(super) fn admits(&self, step: &Step) -> bool {
        match step {
            Step::Reply(_) => true,
            Step::Read(_) => self.is_empty(),
            Step::Entries(entries) => {
                self.weight == 0 || self.weight + entries.len().max(1) <= self.limit
            }
        }
    }

    /// Appends `step`, which [`admits`](Self::admits) let in. Entries go to the writer now,
    /// in arrival order; a read starts now.
    pub(super) fn push(&mut self, step: Step, origin: SessionId, last_sync: Option<Version>) {
        let slot = match step {
            Step::Reply(replies) => Slot::Ready(replies),
            Step::Read(read) => {
                self.reading = true;
                Slot::Read(Box::pin(handle::read(self.session, read, last_sync)))
            }
            Step::Entries(entries) => self.submit(entries, origin),
        };
        self.weight += slot.weight();
        self.slots.push_back(slot);
    }

    fn submit(&self, entries: Vec<Entry>, origin: SessionId) -> Slot<'a> {
        let (changes, verdicts) = handle::validate(self.session, &entries);
        let commit = if changes.is_empty() {
            Submission::Finished(Ok(None))
        } else {
            let session = self.session;
            let started = std::time::Instant::now();
            let mut commit: Commit<'a> = Box::pin(
                session
                    .engine
                    .submit_as(&session.actor, &session.tenant, Some(origin), changes)
                    .map(move |result| {
                        crate::metrics::ack_latency(started.elapsed());
                        result.map(Some)
                    }),
            );
            // `Engine::submit` queues its job on the writer in its first poll, before it
            // awaits anything: polling it here puts entries in the writer's queue in the
            // order they arrived (the later arrival wins a tie under last-write-wins), and
            // refuses them as overloaded at once when the queue is full. The slot is polled
            // again, with the session's waker, once it is first in line.
            match commit
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
            {
                Poll::Ready(result) => Submission::Finished(result),
                Poll::Pending => Submission::Waiting(commit),
            }
        };
        Slot::Entries {
            entries,
            verdicts,
            commit,
        }
    }

    /// The first slot, once it is done. Cancel-safe: a slot leaves the pipeline only when
    /// this returns it. Pending for ever when the pipeline is empty.
    pub(super) async fn next(&mut self) -> Done {
        poll_fn(|context| self.poll_next(context)).await
    }

    fn poll_next(&mut self, context: &mut Context<'_>) -> Poll<Done> {
        let Some(first) = self.slots.front_mut() else {
            return Poll::Pending;
        };
        let weight = first.weight();
        let done = match first {
            Slot::Ready(replies) => Done::Replies(std::mem::take(replies)),
            Slot::Entries {
                entries,
                verdicts,
                commit,
            } => {
                let result = match commit {
                    Submission::Waiting(waiting) => {
                        std::task::ready!(waiting.as_mut().poll(context))
                    }
                    Submission::Finished(result) => std::mem::replace(result, Ok(None)),
                };
                Done::Entries {
                    entries: std::mem::take(entries),
                    verdicts: std::mem::take(verdicts),
                    result,
                }
            }
            Slot::Read(running) => {
                let done = std::task::ready!(running.as_mut().poll(context));
                self.reading = false;
                done
            }
        };
        self.slots.pop_front();
        self.weight -= weight;
        Poll::Ready(done)
    }
}
