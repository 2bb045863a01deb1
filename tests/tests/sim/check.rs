//! The invariants, checked once a run has converged.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use sync_client::outbox::Status;
use sync_core::Syncable;
use sync_core::store::Store;
use sync_core::version::Version;

use crate::world::{
    Account, CONTACT_IDS, Contact, Grant, IDS, Note, Payment, World, entity_type_of, payment_keys,
};

/// Every violated invariant, each on a line.
pub(crate) async fn invariants(world: &World) -> Vec<String> {
    let mut broken = Vec::new();
    let store = world
        .store
        .as_ref()
        .expect("the server runs after converging");
    let tenant = &world.tenant;

    // Every outbox is empty, or holds only permanent failures (whose entities keep the
    // local edit until the app decides, so they are left out of the comparison).
    let mut failed_entities = Vec::new();
    for (index, client) in world.clients() {
        for entry in client.outbox().await.unwrap() {
            if entry.status == Status::Failed
                && !entry
                    .detail
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("gave up")
            {
                failed_entities.push(entry.entity_id.clone());
            } else {
                broken.push(format!(
                    "client {index}: outbox entry {} of {} is {:?} ({:?})",
                    entry.id, entry.entity_id, entry.status, entry.detail
                ));
            }
        }
    }

    // Every replica equals the server; of a streamed entity, exactly the rows of the
    // buckets it holds.
    broken.extend(replicas_equal_the_server::<Account>(world, &IDS, &failed_entities).await);
    broken
        .extend(replicas_equal_the_server::<Contact>(world, &CONTACT_IDS, &failed_entities).await);
    broken.extend(streamed_replicas_hold_their_buckets(world, &failed_entities).await);
    broken.extend(the_history_is_the_servers(world).await);

    // No ACKed change is lost, no deleted entity comes back from an older change, no change
    // is applied twice.
    let acked = world.net.lock().observed.applied.clone();
    let mut applied: BTreeMap<&str, usize> = BTreeMap::new();
    for (change, entity, version, delete) in &acked {
        *applied.entry(change).or_default() += 1;
        let Ok(version) = Version::parse(version) else {
            broken.push(format!("change {change}: ACK without a version"));
            continue;
        };
        let entity_type = entity_type_of(entity);
        let state = store
            .inner
            .get_state(tenant, entity_type, entity)
            .await
            .unwrap();
        match state {
            None => broken.push(format!(
                "change {change} of {entity} was ACKed applied at {version} and the server has no trace of {entity}"
            )),
            Some(state) if state.version < version => broken.push(format!(
                "change {change} of {entity} was ACKed applied at {version} and the server holds the older {}",
                state.version
            )),
            // An update of the same version arriving later wins (the LWW rule), so only an
            // older one would be a resurrection.
            // A field-merged entity's delete is final.
            Some(state) if *delete && !state.deleted && entity_type == "Contact" => {
                broken.push(format!(
                    "{entity} was deleted at {version} (ACKed) and is live again at {}",
                    state.version
                ));
            }
            Some(state) if *delete && !state.deleted && state.version < version => {
                broken.push(format!(
                    "{entity} was deleted at {version} (ACKed) and is live again at {}",
                    state.version
                ));
            }
            Some(_) => {}
        }
    }
    for (change, count) in applied {
        if count > 1 {
            broken.push(format!("change {change} was applied {count} times"));
        }
    }
    broken
}

/// The stream oracle, once converged: a replica's payments are exactly the server's live
/// payments of the buckets it subscribed (not drafts: the stream's filter), or all of them
/// for a client that takes payments whole; its notes are exactly those of the accounts its
/// grants on the server give it (it asks for every account); nothing is pinned, since
/// every outbox is empty.
async fn streamed_replicas_hold_their_buckets(
    world: &World,
    failed_entities: &[String],
) -> Vec<String> {
    let mut broken = Vec::new();
    let store = world
        .store
        .as_ref()
        .expect("the server runs after converging");
    let payments: Vec<Payment> = sync_core::StoreExt::list(&store.inner, &world.tenant)
        .await
        .unwrap();
    let notes: Vec<Note> = sync_core::StoreExt::list(&store.inner, &world.tenant)
        .await
        .unwrap();
    let grants: Vec<Grant> = sync_core::StoreExt::list(&store.inner, &world.tenant)
        .await
        .unwrap();
    for (index, client) in world.clients() {
        let keys = payment_keys(index);
        let expected: Vec<Payment> = payments
            .iter()
            .filter(|payment| {
                keys.is_empty() || (keys.contains(&payment.account_id.as_str()) && !payment.draft)
            })
            .filter(|payment| !failed_entities.contains(&payment.id))
            .cloned()
            .collect();
        let mut held: Vec<Payment> = client.list::<Payment>().await.unwrap();
        held.retain(|payment| !failed_entities.contains(&payment.id));
        if held != expected {
            broken.push(format!(
                "client {index}: holds payments {held:?}, its buckets {keys:?} hold {expected:?}"
            ));
        }
        let subject = format!("client-{index}");
        let granted: Vec<&str> = grants
            .iter()
            .filter(|grant| grant.user_id == subject)
            .map(|grant| grant.account_id.as_str())
            .collect();
        // A note whose edit the server refused (forbidden: outside the writer's grants)
        // keeps the local edit until the app decides, as any failed entry does.
        let expected: Vec<Note> = notes
            .iter()
            .filter(|note| granted.contains(&note.account_id.as_str()))
            .filter(|note| !failed_entities.contains(&note.id))
            .cloned()
            .collect();
        let mut held: Vec<Note> = client.list::<Note>().await.unwrap();
        held.retain(|note| !failed_entities.contains(&note.id));
        if held != expected {
            broken.push(format!(
                "client {index}: holds notes {held:?}, its grants {granted:?} give {expected:?}"
            ));
        }
    }
    broken
}

/// Every replica holds the server's rows of `T` among `ids`, except those of entities
/// with a failed outbox entry.
async fn replicas_equal_the_server<T: Syncable>(
    world: &World,
    ids: &[&str],
    failed_entities: &[String],
) -> Vec<String> {
    let mut broken = Vec::new();
    let store = world
        .store
        .as_ref()
        .expect("the server runs after converging");
    let id_of = |json: &Json| json["id"].as_str().unwrap_or_default().to_owned();
    let server: BTreeMap<String, Json> = store
        .list_json(&world.tenant, T::ENTITY)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let entity: T = serde_json::from_value(row).unwrap();
            let json = serde_json::to_value(entity).unwrap();
            (id_of(&json), json)
        })
        .collect();
    for (index, client) in world.clients() {
        let replica: BTreeMap<String, Json> = client
            .list::<T>()
            .await
            .unwrap()
            .into_iter()
            .map(|entity| {
                let json = serde_json::to_value(entity).unwrap();
                (id_of(&json), json)
            })
            .collect();
        for id in ids {
            if failed_entities.iter().any(|failed| failed == id) {
                continue;
            }
            if replica.get(*id) != server.get(*id) {
                broken.push(format!(
                    "client {index}: {id} is {} on the replica and {} on the server",
                    show(replica.get(*id)),
                    show(server.get(*id))
                ));
            }
        }
    }
    broken
}

pub(crate) fn show(state: Option<&Json>) -> String {
    state.map_or_else(|| "absent".to_owned(), Json::to_string)
}

/// The checkpoint oracle's model against the server: every sequence number up to the
/// server's cursor was recorded, and the latest images are the server's rows.
async fn the_history_is_the_servers(world: &World) -> Vec<String> {
    let store = world
        .store
        .as_ref()
        .expect("the server runs after converging");
    let cursor = store.inner.cursor(&world.tenant).await.unwrap();
    let mut broken = Vec::new();
    let (gaps, last) = {
        let history = world.history.lock();
        (history.gaps(cursor), history.last())
    };
    if !gaps.is_empty() || last != cursor {
        broken.push(format!(
            "the model of the server's history misses sequence numbers {gaps:?} (it ends at {last}, the server at {cursor})"
        ));
    }
    broken.extend(history_matches::<Payment>(world, cursor).await);
    broken.extend(history_matches::<Note>(world, cursor).await);
    broken.extend(history_matches::<Grant>(world, cursor).await);
    broken
}

async fn history_matches<T: Syncable + PartialEq + std::fmt::Debug>(
    world: &World,
    cursor: u64,
) -> Vec<String> {
    let store = world
        .store
        .as_ref()
        .expect("the server runs after converging");
    let server: Vec<T> = sync_core::StoreExt::list(&store.inner, &world.tenant)
        .await
        .unwrap();
    let model: Vec<T> = world
        .history
        .lock()
        .live_at::<T>(T::ENTITY, cursor)
        .into_values()
        .collect();
    if server == model {
        Vec::new()
    } else {
        vec![format!(
            "the model of the server's history holds {} {model:?}, the server {server:?}",
            T::ENTITY
        )]
    }
}
