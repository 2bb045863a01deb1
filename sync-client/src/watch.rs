//! Live reads: [`Watch`], the typed changes of one entity type as the replica applies
//! them, and [`LiveQuery`], a query's result re-emitted whenever a change touches it.
//!
//! Both follow [`Client::events`](crate::Client::events): they see every change applied
//! after they were created, local writes and remote ones alike, each with its
//! [`Source`]. When a receiver falls too far behind (or the replica is reloaded), a
//! [`Watch`] yields [`Update::Missed`] and a [`LiveQuery`] reads its result again. The
//! example is in the [crate docs](crate).

use std::marker::PhantomData;

use sync_core::Syncable;
use sync_core::change::TypedChange;
use sync_core::version::Version;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::{Error, Result};
use crate::event::{Changed, Event, Source};
use crate::query::Query;

/// What a [`Watch`] yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Update<T> {
    /// The replica applied a change of a `T`: an upsert with the entity as stored, or a
    /// delete, with its version (the cursor is not known to the replica's events).
    Changed {
        /// The change.
        change: TypedChange<T>,
        /// Where it came from.
        source: Source,
    },
    /// Changes were missed (the watcher fell behind, or the replica was reloaded): re-read
    /// what you show with [`Client::list`](crate::Client::list) or a query.
    Missed,
}

/// The changes of entities of type `T`, as the replica applies them (see
/// [`Client::watch`](crate::Client::watch)).
#[derive(Debug)]
pub struct Watch<T> {
    events: broadcast::Receiver<Event>,
    entity: PhantomData<fn() -> T>,
}

impl<T: Syncable> Watch<T> {
    pub(crate) fn new(events: broadcast::Receiver<Event>) -> Watch<T> {
        Watch {
            events,
            entity: PhantomData,
        }
    }

    /// The next change of a `T`. Fails with [`Error::Closed`] once the client is gone, and
    /// with [`Error::Decode`] for a state that does not fit `T` (the watch goes on).
    pub async fn next(&mut self) -> Result<Update<T>> {
        loop {
            match self.events.recv().await {
                Ok(Event::Changed(changed)) if changed.is::<T>() => {
                    return typed(changed)
                        .map(|(change, source)| Update::Changed { change, source });
                }
                Ok(Event::Reloaded) | Err(RecvError::Lagged(_)) => return Ok(Update::Missed),
                Ok(_) => {}
                Err(RecvError::Closed) => return Err(Error::Closed),
            }
        }
    }
}

/// An event's change as a `TypedChange<T>`.
fn typed<T: Syncable>(changed: Changed) -> Result<(TypedChange<T>, Source)> {
    let source = changed.source;
    let version = Some(changed.version);
    let change = if changed.deleted {
        TypedChange::Delete {
            entity_type: T::ENTITY,
            id: changed.entity_id,
            version,
            cursor: None,
        }
    } else {
        TypedChange::Upsert {
            entity: crate::client::decode(changed.data, &changed.entity_id)?,
            version,
            cursor: None,
        }
    };
    Ok((change, source))
}

/// A query's result, now and whenever a change touches it (see [`Query::watch`]).
#[derive(Debug)]
pub struct LiveQuery<T> {
    query: Query<T>,
    events: broadcast::Receiver<Event>,
    /// The ids and versions of the result last yielded; `None` before the first.
    last: Option<Vec<(String, Version)>>,
}

impl<T: Syncable> LiveQuery<T> {
    pub(crate) fn new(query: Query<T>) -> LiveQuery<T> {
        // Subscribed before the first read, so no change between the two is missed.
        let events = query.client().events();
        LiveQuery {
            query,
            events,
            last: None,
        }
    }

    /// The result: at once on the first call, then each time a change touches it (an
    /// entity of the result changed or was deleted, or one now fits the filters) and the
    /// result differs from the one yielded last. Fails with [`Error::Closed`] once the
    /// client is gone.
    pub async fn next(&mut self) -> Result<Vec<T>> {
        if self.last.is_none() {
            return self.read().await.map(|(result, _)| result);
        }
        loop {
            let touched = match self.events.recv().await {
                Ok(Event::Changed(changed)) => self.touches(&changed),
                Ok(Event::Reloaded) | Err(RecvError::Lagged(_)) => true,
                // Its row's delete was an event of its own; a checkpoint changes no row.
                Ok(Event::Dropped(_) | Event::Checkpoint(_)) => false,
                Err(RecvError::Closed) => return Err(Error::Closed),
            };
            if !touched {
                continue;
            }
            let (result, differs) = self.read().await?;
            if differs {
                return Ok(result);
            }
        }
    }

    /// Whether `changed` may change the result.
    fn touches(&self, changed: &Changed) -> bool {
        if !changed.is::<T>() {
            return false;
        }
        let was_in = self
            .last
            .as_ref()
            .is_some_and(|last| last.iter().any(|(id, _)| *id == changed.entity_id));
        if was_in {
            return true;
        }
        if changed.deleted {
            return false;
        }
        match changed.entity::<T>() {
            Ok(Some(entity)) => self.query.matches(&entity) != Some(false),
            // Not decodable here: let the replica decide.
            _ => true,
        }
    }

    /// Reads the result; `true` when it differs from the last one yielded.
    async fn read(&mut self) -> Result<(Vec<T>, bool)> {
        let effects = self.query.effects().await?;
        let keys: Vec<(String, Version)> = effects
            .iter()
            .map(|effect| (effect.entity_id.clone(), effect.version))
            .collect();
        let differs = self.last.as_ref() != Some(&keys);
        let result = effects
            .into_iter()
            .map(|effect| crate::client::decode(effect.data, &effect.entity_id))
            .collect::<Result<Vec<T>>>()?;
        self.last = Some(keys);
        Ok((result, differs))
    }
}
