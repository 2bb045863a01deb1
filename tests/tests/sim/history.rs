//! The server's history, as the simulation saw the store commit it: every applied change's
//! row image at its sequence number. From it, the rows a bucket held and the keys a
//! principal's memberships gave at any sequence number, which the store itself does not
//! keep (it stores each row's latest state only). The stream rules are written here again,
//! from the entities' declarations, instead of calling the server's code, so that the
//! oracle does not check the server against itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use sync_core::Syncable;
use sync_core::outcome::{BatchOutcome, Effect, Outcome};

use crate::world::{Grant, Note, Payment};

/// One committed state of a row.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub(crate) entity: &'static str,
    pub(crate) id: String,
    pub(crate) deleted: bool,
    pub(crate) data: Json,
}

/// Every committed image, by sequence number.
#[derive(Debug, Default)]
pub(crate) struct History {
    images: BTreeMap<u64, Image>,
}

/// The history, shared by the store wrapper (which records) and the oracles (which read).
#[derive(Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<History>>);

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, History> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl History {
    /// Records what a batch committed: the effect of each applied change. Superseded,
    /// duplicate and rejected changes wrote nothing.
    pub(crate) fn record(&mut self, outcome: &BatchOutcome) {
        for outcome in &outcome.outcomes {
            if let Outcome::Applied { effect, .. } = outcome {
                self.insert(effect);
            }
        }
    }

    fn insert(&mut self, effect: &Effect) {
        self.images.insert(
            effect.seq,
            Image {
                entity: effect.entity_type,
                id: effect.entity_id.clone(),
                deleted: effect.deleted,
                data: effect.data.clone(),
            },
        );
    }

    /// The highest sequence number recorded (0 before the first commit).
    pub(crate) fn last(&self) -> u64 {
        self.images.keys().next_back().copied().unwrap_or(0)
    }

    /// The sequence numbers up to `through` that no recorded commit has: the model is
    /// incomplete there (the store numbers its changes 1, 2, 3, …).
    pub(crate) fn gaps(&self, through: u64) -> Vec<u64> {
        (1..=through)
            .filter(|seq| !self.images.contains_key(seq))
            .collect()
    }

    /// The live rows of `T` at `at`: each row's latest image with a sequence number at or
    /// below `at`, unless that image is a tombstone.
    pub(crate) fn live_at<T: DeserializeOwned>(
        &self,
        entity: &str,
        at: u64,
    ) -> BTreeMap<String, T> {
        let mut latest: BTreeMap<&str, &Image> = BTreeMap::new();
        for image in self.images.range(..=at).map(|(_, image)| image) {
            if image.entity == entity {
                latest.insert(&image.id, image);
            }
        }
        latest
            .into_iter()
            .filter(|(_, image)| !image.deleted)
            .map(|(id, image)| {
                let row = serde_json::from_value(image.data.clone())
                    .unwrap_or_else(|error| panic!("{entity} {id} as committed: {error}"));
                (id.to_owned(), row)
            })
            .collect()
    }

    /// The accounts `subject`'s grants give it at `at`.
    pub(crate) fn granted_at(&self, subject: &str, at: u64) -> Vec<String> {
        let mut keys: Vec<String> = self
            .live_at::<Grant>("Grant", at)
            .into_values()
            .filter(|grant| grant.user_id == subject)
            .map(|grant| grant.account_id)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The bucket of a row in the simulation's streams, by their declarations: a payment is in
/// the bucket of its account unless it is a draft (`payments_by_account`, filter
/// `is_posted`); a note in the bucket of its account (`notes_by_account`).
pub(crate) trait Streamed: Syncable + PartialEq + Clone + std::fmt::Debug {
    const STREAM: &'static str;
    fn bucket(&self) -> Option<&str>;
}

impl Streamed for Payment {
    const STREAM: &'static str = "payments_by_account";
    fn bucket(&self) -> Option<&str> {
        (!self.draft).then_some(self.account_id.as_str())
    }
}

impl Streamed for Note {
    const STREAM: &'static str = "notes_by_account";
    fn bucket(&self) -> Option<&str> {
        Some(self.account_id.as_str())
    }
}
