//! The store-independent half of `apply`: validation, idempotency, last-write-wins and
//! sequence numbers, decided in memory so that a store only reads and writes.
//!
//! A store runs a batch in four steps:
//!
//! 1. [`Batch::check`] validates every change without touching the database.
//! 2. Inside its transaction, the store reads what the batch needs: the recorded outcomes of
//!    [`Batch::change_ids`], and the stored states (full rows, live or tombstone) of
//!    [`Batch::touched`], one query per table, into a [`Prefetched`].
//! 3. [`Batch::decide`] makes the decisions in order against an in-memory view of those
//!    states that every winning change updates, so a batch that touches one entity twice is
//!    decided as if its changes came one by one.
//! 4. The store writes the [`Plan`]: the final state of each touched entity (one write per
//!    table and id, with its last sequence number), the processed change ids, and the new
//!    cursor. One write per key is what makes set-based statements possible.

use std::collections::{HashMap, HashSet};

use crate::change::{Change, MAX_CHANGE_ID_LEN};
use crate::entity::stream::Route;
use crate::entity::{Arrival, Handler, MAX_ENTITY_ID_LEN, Prepared, Registry, Value, Write};
use crate::lww::{self, Decision};
use crate::outcome::{Effect, Outcome, OutcomeKind, Reason, Recorded, Rejection};
use crate::version::Version;

/// A change that passed validation and waits for its decision.
struct Ready<'a> {
    handler: &'a dyn Handler,
    prepared: Prepared,
}

/// A validated batch, before its decisions.
pub(crate) struct Batch<'a> {
    registry: &'a Registry,
    changes: &'a [Change],
    checked: Vec<Result<Ready<'a>, Rejection>>,
}

/// What a store read for a batch inside its transaction.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// The recorded outcomes of the batch's change ids that were processed before.
    pub(crate) processed: HashMap<String, Recorded>,
    /// The stored states, keyed by (table, entity id), of the entities the batch touches.
    pub(crate) stored: HashMap<(&'static str, String), Effect>,
    /// The tenant's tombstone horizon: every tombstone purged so far had an older version.
    /// `None` while no tombstone was ever purged.
    pub(crate) horizon: Option<Version>,
}

/// The decisions of a batch and the writes that commit them.
pub(crate) struct Plan<'a> {
    /// One outcome per change, in order.
    pub(crate) outcomes: Vec<Outcome>,
    /// The final writes, per table in the order the batch first touched them.
    pub(crate) tables: Vec<TableWrites<'a>>,
    /// The processed change ids and their outcomes, to record.
    pub(crate) records: Vec<(&'a str, Recorded)>,
    /// The tenant's sequence number after the batch.
    pub(crate) seq: u64,
    /// Whether the batch took any sequence number.
    pub(crate) advanced: bool,
    /// What each applied change did to its entity's stream buckets, in sequence order.
    pub(crate) routes: Vec<Route>,
    /// The subjects whose memberships the batch changed (old and new member of each
    /// membership row it wrote): their sessions resolve their keys again.
    pub(crate) principals: Vec<String>,
}

/// The final writes to one table: each entity at most once.
pub(crate) struct TableWrites<'a> {
    /// The entity.
    pub(crate) handler: &'a dyn Handler,
    /// Live rows to upsert.
    pub(crate) live: Vec<LiveRow>,
    /// Tombstones to write.
    pub(crate) tombstones: Vec<Tombstone>,
}

/// A live row to upsert, in [`Handler::columns`] order, at sequence number `seq`.
pub(crate) struct LiveRow {
    pub(crate) row: Vec<Value>,
    pub(crate) seq: u64,
}

/// A tombstone to write: the row keeps (or gets) the id and version, flagged deleted.
pub(crate) struct Tombstone {
    pub(crate) entity_id: String,
    pub(crate) version: Version,
    pub(crate) seq: u64,
}

/// The final write of one entity.
enum Final {
    Live(Vec<Value>),
    Deleted,
}

impl<'a> Batch<'a> {
    /// Validates every change. A change with an entry in `refusals` (empty, or one per
    /// change) is refused with it; `extra` adds a store's own rules (e.g. what its column
    /// types can hold) to a change that passed the shared ones.
    pub(crate) fn check(
        registry: &'a Registry,
        changes: &'a [Change],
        refusals: &[Option<Rejection>],
        arrival: Arrival,
        extra: impl Fn(&dyn Handler, &Change, &Prepared) -> Result<(), Rejection>,
    ) -> Batch<'a> {
        let checked = changes
            .iter()
            .enumerate()
            .map(|(index, change)| {
                if let Some(Some(refusal)) = refusals.get(index) {
                    return Err(refusal.clone());
                }
                let ready = check(registry, change, arrival)?;
                extra(ready.handler, change, &ready.prepared)?;
                Ok(ready)
            })
            .collect();
        Batch {
            registry,
            changes,
            checked,
        }
    }

    /// The change ids that may have been processed before: those of a valid length.
    pub(crate) fn change_ids(&self) -> Vec<&'a str> {
        let mut seen = HashSet::with_capacity(self.changes.len());
        self.changes
            .iter()
            .map(|change| change.id.as_str())
            .filter(|id| !id.is_empty() && id.len() <= MAX_CHANGE_ID_LEN && seen.insert(*id))
            .collect()
    }

    /// The entities whose stored state the decisions need, per table (each id once): those
    /// of every change of a registered entity type with a valid id, so that a retry can be
    /// answered with its entity's current state.
    pub(crate) fn touched(&self) -> Vec<(&'a dyn Handler, Vec<&'a str>)> {
        let mut tables: Vec<(&'a dyn Handler, Vec<&'a str>)> = Vec::new();
        let mut seen = HashSet::with_capacity(self.changes.len());
        for change in self.changes {
            let id = change.entity_id.as_str();
            let Some(handler) = self.registry.get(&change.entity_type) else {
                continue;
            };
            if id.is_empty() || id.len() > MAX_ENTITY_ID_LEN || !seen.insert((handler.table(), id))
            {
                continue;
            }
            match tables
                .iter_mut()
                .find(|(known, _)| known.table() == handler.table())
            {
                Some((_, ids)) => ids.push(id),
                None => tables.push((handler, vec![id])),
            }
        }
        tables
    }

    /// Decides every change in order, the tenant's sequence standing at `seq`.
    ///
    /// An applied change's state is not copied: later changes of the same entity in the
    /// batch read it from its outcome, found by `latest`.
    pub(crate) fn decide(self, prefetched: Prefetched, mut seq: u64) -> Plan<'a> {
        let Prefetched {
            processed,
            stored,
            horizon,
        } = prefetched;
        let stored: HashMap<(&'static str, &str), &Effect> = stored
            .iter()
            .map(|((table, id), state)| ((*table, id.as_str()), state))
            .collect();
        let mut processed: HashMap<&'a str, Recorded> = self
            .change_ids()
            .into_iter()
            .filter_map(|id| processed.get(id).map(|recorded| (id, *recorded)))
            .collect();
        let first_seq = seq;
        let mut finals: Vec<((&'static str, &'a str), &'a dyn Handler, Final)> = Vec::new();
        // Per entity: its index in `finals`, and the outcome holding its latest state.
        let mut latest: HashMap<(&'static str, &'a str), (usize, usize)> =
            HashMap::with_capacity(self.changes.len());
        let mut records = Vec::with_capacity(self.changes.len());
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(self.changes.len());
        let mut routes = Vec::new();
        let mut principals: Vec<String> = Vec::new();

        for (change, checked) in self.changes.iter().zip(self.checked) {
            if let Some(original) = processed.get(change.id.as_str()) {
                // The entity as the view holds it now, earlier changes of this batch included.
                let current = self.registry.get(&change.entity_type).and_then(|handler| {
                    let key = (handler.table(), change.entity_id.as_str());
                    match latest.get(&key) {
                        Some(&(_, outcome)) => applied_effect(&outcomes[outcome]).cloned(),
                        None => stored.get(&key).map(|state| (*state).clone()),
                    }
                });
                outcomes.push(Outcome::Duplicate {
                    original: *original,
                    current,
                });
                continue;
            }
            let Ready { handler, prepared } = match checked {
                Ok(ready) => ready,
                Err(rejection) => {
                    outcomes.push(Outcome::Rejected(rejection));
                    continue;
                }
            };
            let key = (handler.table(), change.entity_id.as_str());
            let current: Option<&Effect> = match latest.get(&key) {
                Some(&(_, outcome)) => applied_effect(&outcomes[outcome]),
                None => stored.get(&key).copied(),
            };
            if let Some(rejection) = past_horizon(change, &prepared, current, horizon) {
                outcomes.push(Outcome::Rejected(rejection));
                continue;
            }
            let resolution = match resolve(handler, current, prepared.version, prepared.write) {
                Ok(resolution) => resolution,
                Err(rejection) => {
                    outcomes.push(Outcome::Rejected(rejection));
                    continue;
                }
            };
            let outcome = match resolution {
                Resolution::Apply {
                    write,
                    version,
                    merged,
                } => {
                    seq += 1;
                    let (deleted, data, write) = match write {
                        Write::Upsert { row, data } => (false, data, Final::Live(row)),
                        Write::Delete => (
                            true,
                            handler.tombstone_json(&change.entity_id, version),
                            Final::Deleted,
                        ),
                    };
                    let effect = Effect {
                        entity_type: handler.entity(),
                        collection: handler.collection(),
                        entity_id: change.entity_id.clone(),
                        deleted,
                        version,
                        seq,
                        data,
                    };
                    routes.extend(handler.routes(current, &effect));
                    for via in self.registry.memberships(handler.entity()) {
                        for state in [current, Some(&effect)].into_iter().flatten() {
                            if let Some(member) = (!state.deleted)
                                .then(|| (via.member)(&state.data))
                                .flatten()
                                && !principals.contains(&member)
                            {
                                principals.push(member);
                            }
                        }
                    }
                    match latest.get_mut(&key) {
                        Some((index, outcome)) => {
                            finals[*index].2 = write;
                            *outcome = outcomes.len();
                        }
                        None => {
                            latest.insert(key, (finals.len(), outcomes.len()));
                            finals.push((key, handler, write));
                        }
                    }
                    Outcome::Applied {
                        effect,
                        clamped: prepared.clamped,
                        merged,
                    }
                }
                Resolution::Supersede => Outcome::Superseded {
                    winner: current
                        .cloned()
                        .expect("only a stored state supersedes a change"),
                    clamped: prepared.clamped,
                },
            };
            // A change stored merged with others did not store its own state: a retry
            // must be told the current one, as for a superseded change.
            let kind = match outcome {
                Outcome::Applied { merged: true, .. } => OutcomeKind::Superseded,
                _ => outcome.kind().expect("applied or superseded"),
            };
            let recorded = Recorded {
                kind,
                version: outcome.stored_version().expect("applied or superseded"),
                seq,
            };
            processed.insert(change.id.as_str(), recorded);
            records.push((change.id.as_str(), recorded));
            outcomes.push(outcome);
        }

        Plan {
            tables: table_writes(finals, &latest, &outcomes),
            outcomes,
            records,
            seq,
            advanced: seq != first_seq,
            routes,
            principals,
        }
    }
}

/// What a valid change does to the entity's current state.
enum Resolution {
    /// Write `write` at `version`; `merged` when that is not the change's own state.
    Apply {
        write: Write,
        version: Version,
        merged: bool,
    },
    /// Keep the current state: the change loses, or changes nothing.
    Supersede,
}

/// Decides a change at `version` that would write `write` against the entity's `current`
/// state, by the entity's merge policy.
fn resolve(
    handler: &dyn Handler,
    current: Option<&Effect>,
    version: Version,
    write: Write,
) -> Result<Resolution, Rejection> {
    if handler.merge().fields().is_none() {
        return Ok(
            match lww::decide(version, current.map(|state| state.version)) {
                Decision::Apply => Resolution::Apply {
                    write,
                    version,
                    merged: false,
                },
                Decision::Supersede => Resolution::Supersede,
            },
        );
    }
    // Per field (see `crate::merge`): a delete is final and its tombstone takes the
    // highest version seen; a live row merges every change field by field.
    Ok(match (current, write) {
        (None, write) => Resolution::Apply {
            write,
            version,
            merged: false,
        },
        (Some(tombstone), write) if tombstone.deleted => {
            if version > tombstone.version {
                Resolution::Apply {
                    merged: !matches!(write, Write::Delete),
                    write: Write::Delete,
                    version,
                }
            } else {
                Resolution::Supersede
            }
        }
        (Some(live), Write::Delete) => Resolution::Apply {
            write: Write::Delete,
            version: version.max(live.version),
            merged: live.version > version,
        },
        (Some(live), Write::Upsert { row, .. }) => {
            let merged = handler.merge_live(live, &row, version)?;
            if merged.changed {
                Resolution::Apply {
                    version: merged.version,
                    merged: merged.differs,
                    write: Write::Upsert {
                        row: merged.row,
                        data: merged.data,
                    },
                }
            } else {
                Resolution::Supersede
            }
        }
    })
}

/// The refusal of a create or update older than the tombstone horizon of an entity with no
/// stored state. A tombstone it would have lost to may have been purged, so applying it
/// could bring a deleted entity back; a change at or after the horizon is newer than every
/// purged tombstone and is decided by last-write-wins as usual. A delete is never refused:
/// it cannot bring anything back.
fn past_horizon(
    change: &Change,
    prepared: &Prepared,
    current: Option<&Effect>,
    horizon: Option<Version>,
) -> Option<Rejection> {
    let horizon = horizon?;
    let upsert = matches!(prepared.write, Write::Upsert { .. });
    (upsert && current.is_none() && prepared.version < horizon).then(|| {
        Rejection::new(
            Reason::Expired,
            format!(
                "updated_at {} is older than the tombstone horizon {horizon} and the server holds no {} {:?}: \
                 it may have been deleted since; write it again with a current updated_at to re-create it",
                prepared.version,
                change.entity_type,
                change.entity_id.chars().take(64).collect::<String>(),
            ),
        )
    })
}

/// The state an applied outcome committed.
fn applied_effect(outcome: &Outcome) -> Option<&Effect> {
    match outcome {
        Outcome::Applied { effect, .. } => Some(effect),
        _ => None,
    }
}

/// Groups the final writes by table; each takes the sequence number of its last change.
fn table_writes<'a>(
    finals: Vec<((&'static str, &'a str), &'a dyn Handler, Final)>,
    latest: &HashMap<(&'static str, &'a str), (usize, usize)>,
    outcomes: &[Outcome],
) -> Vec<TableWrites<'a>> {
    let mut tables: Vec<TableWrites<'a>> = Vec::new();
    for (key, handler, write) in finals {
        let state = applied_effect(&outcomes[latest[&key].1])
            .expect("every final write is an applied outcome's");
        let index = match tables
            .iter()
            .position(|writes| writes.handler.table() == key.0)
        {
            Some(index) => index,
            None => {
                tables.push(TableWrites {
                    handler,
                    live: Vec::new(),
                    tombstones: Vec::new(),
                });
                tables.len() - 1
            }
        };
        match write {
            Final::Live(row) => tables[index].live.push(LiveRow {
                row,
                seq: state.seq,
            }),
            Final::Deleted => tables[index].tombstones.push(Tombstone {
                entity_id: key.1.to_owned(),
                version: state.version,
                seq: state.seq,
            }),
        }
    }
    tables
}

/// Validates one change without touching the database.
fn check<'a>(
    registry: &'a Registry,
    change: &Change,
    arrival: Arrival,
) -> Result<Ready<'a>, Rejection> {
    if change.id.is_empty() || change.id.len() > MAX_CHANGE_ID_LEN {
        return Err(Rejection::new(
            Reason::ValidationError,
            format!("id: a change id has 1 to {MAX_CHANGE_ID_LEN} bytes"),
        ));
    }
    let handler = registry
        .get(&change.entity_type)
        .ok_or_else(|| unknown_entity(registry, &change.entity_type))?;
    let prepared = handler.prepare(change, arrival)?;
    Ok(Ready { handler, prepared })
}

fn unknown_entity(registry: &Registry, entity_type: &str) -> Rejection {
    let known: Vec<&str> = registry.iter().map(|handler| handler.entity()).collect();
    Rejection::new(
        Reason::UnknownEntity,
        format!(
            "entityType {:?} is not registered; known: {}",
            entity_type.chars().take(64).collect::<String>(),
            known.join(", ")
        ),
    )
}
