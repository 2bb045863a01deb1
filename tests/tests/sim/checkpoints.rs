//! The checkpoint oracle: at every checkpoint a client applies, its rows of each
//! subscription the checkpoint names are exactly the rows the subscription's buckets held
//! on the server at the checkpoint's sequence number (by the simulation's own [`History`]),
//! except rows pinned by the client's own changes.
//!
//! How it sees a checkpoint applied: each client's `Event::Checkpoint`s (the cursor and
//! the subscriptions now at it; a live checkpoint after a lost page is not applied and
//! sends none). After every quiescence the oracle drains each client's events; when the
//! last one is a checkpoint, nothing changed the replica since, so it reads the replica
//! there. A checkpoint followed by other events before the simulation looked (several
//! frames handled between two quiescences) is counted unchecked.
//!
//! What it compares, for a subscription `s` of entity `T` at cursor `c`:
//!
//! - the cursor: the replica lists `s` at `c`;
//! - the buckets: `s`'s keys, and for `notes_by_account` (keyed by the principal) only
//!   those the client's grants give it at `c`; the replica's record of `s`'s buckets must
//!   be the same;
//! - the rows: every row of `T` on the replica, against the rows of those buckets at `c`
//!   (the latest image at or below `c` of every row, live, with that partition key and
//!   passing the stream's filter), compared whole (all fields and the version);
//! - left out: rows with any outbox entry (pending, in flight or failed: a local edit, or
//!   an edit the server refused, is pinned until the app or the server settles it); rows
//!   of the client's own changes that an ACK answered at a server cursor past the
//!   checkpoint (the replica takes the state the server settled at once, while the
//!   checkpoint that follows the ACK may be older: the server answers a batch before it
//!   delivers the batch's live pages); and entities subscribed more than once on the
//!   replica (the simulation subscribes each entity once per client; two subscriptions of
//!   one entity at different cursors share rows). The simulation never unsubscribes, so no
//!   rows are kept warm by a TTL.
//!
//! One known limit of the protocol is counted apart rather than failing the seed (reported
//! in docs/reliability.md; `SIM_STRICT_CHECKPOINTS=1` fails on it too). The simulated
//! network loses, duplicates and reorders frames within a connection, which a WebSocket
//! never does. A checkpoint naming a subscription counts its frames, and the client
//! catches up again when the count or the order is wrong; but a count cannot see a frame
//! lost and another duplicated in the same stretch. The network records whether the
//! partial-sync frames of a connection since its previous catch-up checkpoint came whole,
//! once each and in order; when they did not, the subscription is *tainted*: its
//! violations are counted, not reported, until a catch-up of it arrives whole.
//!
//! [`History`]: crate::history::History

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use sync_client::Client;
use sync_client::event::{Checkpoint, Event};
use sync_client::subscription::{State, Subscription, SubscriptionId};
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::history::Streamed;
use crate::world::{Note, Payment, World};

/// Violations of one seed reported at most, so a broken run stays readable.
const MOST: usize = 40;

/// The oracle's state in a run.
pub(crate) struct Watch {
    /// Each running client's events.
    receivers: BTreeMap<usize, broadcast::Receiver<Event>>,
    broken: Vec<String>,
    strict: bool,
    /// The catch-up checkpoints delivered (from the network) whose event has not come yet:
    /// client, subscription, cursor, whole.
    delivered: Vec<(usize, String, u64, bool)>,
    /// Subscriptions whose last catch-up checkpoint came before the whole catch-up (a
    /// frame of it lost or overtaken): their violations are counted, not reported, until
    /// a catch-up of theirs arrives whole.
    tainted: BTreeSet<(usize, SubscriptionId)>,
    pub(crate) figures: Figures,
}

/// How many checkpoints the oracle saw.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Figures {
    /// Checked against the model.
    pub(crate) checked: u64,
    /// Applied and followed by other events before the simulation looked.
    pub(crate) unchecked: u64,
    /// Catch-up checkpoints delivered before their whole catch-up (a frame lost or
    /// overtaken on the network).
    pub(crate) torn: u64,
    /// Checked while their subscription was tainted by such a catch-up.
    pub(crate) tainted: u64,
    /// Of those, how many subscriptions had violations.
    pub(crate) tainted_broken: u64,
}

impl Watch {
    pub(crate) fn new() -> Watch {
        Watch {
            receivers: BTreeMap::new(),
            broken: Vec::new(),
            strict: std::env::var_os("SIM_STRICT_CHECKPOINTS").is_some(),
            delivered: Vec::new(),
            tainted: BTreeSet::new(),
            figures: Figures::default(),
        }
    }

    /// Follows client `index`, just started.
    pub(crate) fn start(&mut self, index: usize, client: &Client) {
        self.receivers.insert(index, client.events());
    }

    /// The checkpoints applied since the last call, for the clients whose last event is
    /// one: they are to be checked now.
    fn due(&mut self, delivered: Vec<(usize, String, u64, bool)>) -> Vec<(usize, Checkpoint)> {
        self.delivered.extend(delivered);
        let mut due = Vec::new();
        let indexes: Vec<usize> = self.receivers.keys().copied().collect();
        for index in indexes {
            let mut events = Vec::new();
            let receiver = self.receivers.get_mut(&index).expect("listed above");
            loop {
                match receiver.try_recv() {
                    Ok(event) => events.push(Some(event)),
                    // Events were missed: whatever came before cannot be judged.
                    Err(TryRecvError::Lagged(_)) => events.push(None),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            let last = events.len();
            for (at, event) in events.into_iter().enumerate() {
                // Missed events (`None`) need nothing: every violation is reported when
                // its checkpoint is checked.
                if let Some(Event::Checkpoint(checkpoint)) = event {
                    for id in &checkpoint.subscriptions {
                        self.taint(index, id, checkpoint.cursor);
                    }
                    if at + 1 == last {
                        due.push((index, checkpoint));
                    } else {
                        self.figures.unchecked += 1;
                    }
                }
            }
        }
        due
    }

    /// Client `index` applied a checkpoint that put `id` at `cursor`: when it was a
    /// catch-up's, `id` is tainted if the catch-up did not arrive whole, and clean if it
    /// did; a live checkpoint changes nothing.
    fn taint(&mut self, index: usize, id: &SubscriptionId, cursor: u64) {
        let matches = |(client, subscription, at, _): &(usize, String, u64, bool)| {
            *client == index && subscription == id.as_str() && *at == cursor
        };
        let Some(last) = self.delivered.iter().rposition(matches) else {
            return;
        };
        let whole = self.delivered[last].3;
        let mut at = 0;
        self.delivered.retain(|(client, subscription, _, _)| {
            at += 1;
            at > last + 1 || *client != index || subscription != id.as_str()
        });
        let key = (index, id.clone());
        if whole {
            self.tainted.remove(&key);
        } else {
            self.figures.torn += 1;
            self.tainted.insert(key);
        }
    }

    fn verdict(
        &mut self,
        index: usize,
        checkpoint: &Checkpoint,
        violations: Vec<(SubscriptionId, String)>,
    ) {
        self.figures.checked += 1;
        self.figures.tainted += checkpoint
            .subscriptions
            .iter()
            .filter(|id| self.tainted.contains(&(index, (*id).clone())))
            .count() as u64;
        let mut by_subscription: BTreeMap<SubscriptionId, Vec<String>> = BTreeMap::new();
        for (id, violation) in violations {
            by_subscription.entry(id).or_default().push(violation);
        }
        for (id, violations) in by_subscription {
            if !self.strict && self.tainted.contains(&(index, id.clone())) {
                self.figures.tainted_broken += 1;
                continue;
            }
            self.report(violations);
        }
    }

    fn report(&mut self, violations: Vec<String>) {
        for violation in violations {
            if self.broken.len() < MOST {
                self.broken.push(violation);
            } else if self.broken.len() == MOST {
                self.broken
                    .push("… (more checkpoint violations left out)".to_owned());
            }
        }
    }

    /// The violations of the run.
    pub(crate) fn finish(&mut self) -> Vec<String> {
        std::mem::take(&mut self.broken)
    }
}

impl World {
    /// Checks every client whose last event is a checkpoint it applied.
    pub(crate) async fn observe(&self) {
        let delivered = std::mem::take(&mut self.net.lock().observed.catch_up_checkpoints);
        let due = self.watch.borrow_mut().due(delivered);
        for (index, checkpoint) in due {
            let violations = at_checkpoint(self, index, &checkpoint).await;
            self.watch
                .borrow_mut()
                .verdict(index, &checkpoint, violations);
        }
    }
}

/// The violations of client `index`'s replica at `checkpoint`, each on a line, by the
/// subscription they concern.
async fn at_checkpoint(
    world: &World,
    index: usize,
    checkpoint: &Checkpoint,
) -> Vec<(SubscriptionId, String)> {
    let Some(client) = world.client(index) else {
        return Vec::new();
    };
    let cursor = checkpoint.cursor;
    let subscriptions = client.subscriptions().await.unwrap();
    let mut pinned: BTreeSet<String> = client
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.entity_id)
        .collect();
    pinned.extend(
        world
            .net
            .lock()
            .observed
            .settled
            .iter()
            .filter(|((of, _), answered)| *of == index && **answered > cursor)
            .map(|((_, id), _)| id.clone()),
    );
    let mut broken = Vec::new();
    for id in &checkpoint.subscriptions {
        let Some(subscription) = subscriptions.iter().find(|listed| listed.id == *id) else {
            broken.push((
                id.clone(),
                format!("client {index}: checkpoint {cursor} names {id}, which it does not list"),
            ));
            continue;
        };
        if subscription.cursor != Some(cursor) {
            broken.push((
                id.clone(),
                format!(
                    "client {index}: checkpoint {cursor} names {id}, whose cursor is {:?}",
                    subscription.cursor
                ),
            ));
            continue;
        }
        let shared = subscriptions.iter().any(|other| {
            other.id != subscription.id
                && other.entity == subscription.entity
                && other.state == State::Active
        });
        if shared {
            continue;
        }
        let subject = format!("client-{index}");
        let at = Held {
            world,
            client,
            index,
            subscription,
            cursor,
            pinned: &pinned,
        };
        let violations = match subscription.stream.as_str() {
            Payment::STREAM => at.compare::<Payment>(None).await,
            Note::STREAM => at.compare::<Note>(Some(&subject)).await,
            _ => Vec::new(),
        };
        broken.extend(violations.into_iter().map(|line| (id.clone(), line)));
    }
    broken
}

/// One subscription of a replica at a checkpoint.
struct Held<'a> {
    world: &'a World,
    client: &'a Client,
    index: usize,
    subscription: &'a Subscription,
    cursor: u64,
    pinned: &'a BTreeSet<String>,
}

impl Held<'_> {
    /// The replica's rows of `T` against the buckets' at the cursor; `member`: the stream
    /// is keyed by that principal's grants.
    async fn compare<T: Streamed>(&self, member: Option<&str>) -> Vec<String> {
        let (index, cursor) = (self.index, self.cursor);
        let (buckets, expected) = {
            let history = self.world.history.lock();
            let mut buckets = self.subscription.keys.clone();
            if let Some(member) = member {
                let granted = history.granted_at(member, cursor);
                buckets.retain(|key| granted.contains(key));
            }
            buckets.sort();
            buckets.dedup();
            let expected: BTreeMap<String, Json> = history
                .live_at::<T>(T::ENTITY, cursor)
                .into_iter()
                .filter(|(_, row)| {
                    row.bucket()
                        .is_some_and(|key| buckets.iter().any(|b| b == key))
                })
                .map(|(id, row)| (id, serde_json::to_value(row).unwrap()))
                .collect();
            (buckets, expected)
        };
        let held: BTreeMap<String, Json> = self
            .client
            .list::<T>()
            .await
            .unwrap()
            .into_iter()
            .map(|row| {
                let json = serde_json::to_value(row).unwrap();
                (json["id"].as_str().unwrap_or_default().to_owned(), json)
            })
            .collect();
        let mut broken = Vec::new();
        let stream = T::STREAM;
        let mut recorded = self.subscription.buckets.clone();
        if let Some(recorded) = &mut recorded {
            recorded.sort();
        }
        if recorded.as_ref() != Some(&buckets) {
            broken.push(format!(
                "client {index}: checkpoint {cursor} of {stream}: the replica records buckets {recorded:?}, its buckets at {cursor} are {buckets:?}"
            ));
        }
        let ids: BTreeSet<&String> = held.keys().chain(expected.keys()).collect();
        for id in ids {
            if self.pinned.contains(id) || held.get(id) == expected.get(id) {
                continue;
            }
            broken.push(format!(
                "client {index}: checkpoint {cursor} of {stream} (buckets {buckets:?}): {id} is {} on the replica and {} in its buckets",
                crate::check::show(held.get(id)),
                crate::check::show(expected.get(id)),
            ));
        }
        broken
    }
}
