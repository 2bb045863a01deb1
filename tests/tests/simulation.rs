//! Seeded simulations: clients with skewed clocks edit their replicas and sync through a
//! network that drops, duplicates and reorders requests and loses answers, while the
//! server restarts. Afterwards every replica equals the server and no acknowledged change
//! is lost. A failure names the seed; `SIMULATION_SEED=<seed>` replays just that one.

mod common;

use std::collections::BTreeMap;

use common::{account_json, tenant};
use sync_core::TenantId;
use sync_core::change::{Change, Operation};
use sync_core::outcome::Outcome;
use sync_core::store::Store;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::version::Version;

const CLIENTS: usize = 3;
const IDS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];
const STEPS: usize = 250;
const SEEDS: u64 = 12;

/// SplitMix64: a small, seedable generator, so a seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A simulated client: a replica of live rows, an outbox, a cursor and a skewed clock.
struct Client {
    replica: BTreeMap<String, serde_json::Value>,
    versions: BTreeMap<String, Version>,
    outbox: Vec<Change>,
    cursor: u64,
    skew_ms: i64,
    next_change: u64,
}

impl Client {
    /// A local edit: a version newer than both the skewed clock and the version edited.
    fn edit(&mut self, index: usize, rng: &mut Rng) {
        let id = IDS[rng.below(IDS.len())];
        let clock = Version::now().add_millis(self.skew_ms);
        let version = match self.versions.get(id) {
            Some(current) if *current >= clock => current.add_millis(1),
            _ => clock,
        };
        self.next_change += 1;
        let change_id = format!("c{index}-{}", self.next_change);
        let change = if rng.chance(25) {
            self.replica.remove(id);
            let payload = serde_json::json!({"id": id, "updated_at": version.to_string()});
            Change {
                id: change_id,
                entity_type: "Account".into(),
                entity_id: id.into(),
                operation: Operation::Delete,
                payload: Some(payload),
            }
        } else {
            let name = format!("edit {} by {index}", self.next_change);
            let payload = account_json(id, &name, Some(&version.to_string()));
            self.replica.insert(id.to_owned(), payload.clone());
            Change {
                id: change_id,
                entity_type: "Account".into(),
                entity_id: id.into(),
                operation: Operation::Update,
                payload: Some(payload),
            }
        };
        self.versions.insert(id.to_owned(), version);
        self.outbox.push(change);
    }

    fn pending(&self, id: &str) -> bool {
        self.outbox.iter().any(|change| change.entity_id == id)
    }
}

/// What the server acknowledged as applied: the entity and the version that must never
/// be replaced by an older one.
type Acknowledged = Vec<(String, Version)>;

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::builder(dir, common::registry())
        .synchronous(Synchronous::Off)
        .open()
        .await
        .unwrap()
}

/// Sends up to 3 outbox entries through the network; settles whatever answers arrive.
async fn push(
    store: &SqliteStore,
    tenant: &TenantId,
    client: &mut Client,
    rng: &mut Rng,
    lossy: bool,
    acknowledged: &mut Acknowledged,
) {
    if client.outbox.is_empty() {
        return;
    }
    let mut batch: Vec<Change> = client.outbox.iter().take(3).cloned().collect();
    if lossy && rng.chance(30) {
        batch.reverse(); // reordered
    }
    if lossy && rng.chance(15) {
        return; // the request is lost
    }
    let times = if lossy && rng.chance(15) { 2 } else { 1 }; // duplicated
    let mut answers = None;
    for _ in 0..times {
        answers = Some(store.apply(tenant, &batch).await.unwrap());
    }
    if lossy && rng.chance(15) {
        return; // the answers are lost: the entries stay and are resent
    }
    for (change, outcome) in batch.iter().zip(answers.unwrap().outcomes) {
        client.outbox.retain(|pending| pending.id != change.id);
        match outcome {
            Outcome::Applied { effect, .. } => {
                acknowledged.push((effect.entity_id.clone(), effect.version));
            }
            Outcome::Superseded { winner, .. } => {
                if !client.pending(&winner.entity_id) {
                    client
                        .versions
                        .insert(winner.entity_id.clone(), winner.version);
                    if winner.deleted {
                        client.replica.remove(&winner.entity_id);
                    } else {
                        client.replica.insert(winner.entity_id.clone(), winner.data);
                    }
                }
            }
            Outcome::Duplicate { .. } => {}
            Outcome::Rejected(rejection) => panic!("a valid change was refused: {rejection}"),
        }
    }
}

/// Reads one page of the feed; applies each change unless a local one waits for it.
async fn pull(
    store: &SqliteStore,
    tenant: &TenantId,
    client: &mut Client,
    rng: &mut Rng,
    lossy: bool,
) -> bool {
    let page = store
        .changes_since(tenant, client.cursor, 1 + rng.below(4))
        .await
        .unwrap();
    if lossy && rng.chance(15) {
        return true; // the answer is lost
    }
    assert!(!page.reset, "no tombstone is purged in the simulation");
    for change in &page.changes {
        if client.pending(&change.entity_id) {
            continue;
        }
        client
            .versions
            .insert(change.entity_id.clone(), change.version);
        if change.deleted {
            client.replica.remove(&change.entity_id);
        } else {
            client
                .replica
                .insert(change.entity_id.clone(), change.data.clone());
        }
    }
    client.cursor = page.cursor;
    page.has_more
}

async fn simulate(seed: u64) {
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path()).await;
    let tenant = tenant("sim");
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|_| Client {
            replica: BTreeMap::new(),
            versions: BTreeMap::new(),
            outbox: Vec::new(),
            cursor: 0,
            skew_ms: i64::try_from(rng.below(4001)).unwrap() - 2000,
            next_change: 0,
        })
        .collect();
    let mut acknowledged = Acknowledged::new();

    for _ in 0..STEPS {
        let index = rng.below(CLIENTS);
        match rng.below(10) {
            0..=3 => clients[index].edit(index, &mut rng),
            4..=6 => {
                push(
                    &store,
                    &tenant,
                    &mut clients[index],
                    &mut rng,
                    true,
                    &mut acknowledged,
                )
                .await
            }
            7..=8 => {
                pull(&store, &tenant, &mut clients[index], &mut rng, true).await;
            }
            _ if rng.chance(20) => {
                drop(store);
                store = open(dir.path()).await; // the server restarts
            }
            _ => {}
        }
    }

    // The network heals: every client sends everything, then catches up.
    for client in &mut clients {
        while !client.outbox.is_empty() {
            push(&store, &tenant, client, &mut rng, false, &mut acknowledged).await;
        }
    }
    for client in &mut clients {
        while pull(&store, &tenant, client, &mut rng, false).await {}
    }

    let snapshot = store.snapshot(&tenant).await.unwrap();
    let server: BTreeMap<String, serde_json::Value> = snapshot.collections["accounts"]
        .iter()
        .map(|row| (row["id"].as_str().unwrap().to_owned(), row.clone()))
        .collect();
    for (index, client) in clients.iter().enumerate() {
        assert_eq!(
            client.replica, server,
            "seed {seed}: client {index} differs from the server"
        );
        assert_eq!(
            client.cursor, snapshot.cursor,
            "seed {seed}: client {index} is not caught up"
        );
    }
    for (id, version) in &acknowledged {
        let stored = store
            .get_state(&tenant, "Account", id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.version >= *version,
            "seed {seed}: an acknowledged change to {id} at {version} was replaced by older {}",
            stored.version
        );
    }
}

#[tokio::test]
async fn replicas_converge_under_a_hostile_network() {
    let seeds: Vec<u64> = match std::env::var("SIMULATION_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIMULATION_SEED is a number")],
        Err(_) => (1..=SEEDS).collect(),
    };
    for seed in seeds {
        // Each seed's panic message names it, so a failure replays with SIMULATION_SEED.
        simulate(seed).await;
    }
}
