//! One simulated run: the real server (store, engine, hub, sessions) and N real clients,
//! each on its own files, driven step by step from one seed.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sync_client::Client;
use sync_client::clock::WallClock;
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::version::Version;
use sync_core::{Registry, TenantId};
use tokio::sync::watch;

use crate::checkpoints::{self, Watch};
use crate::history;
use crate::net::{self, Server};
use crate::store::Counting;

/// The entities the clients edit: sync-testkit's `Account` (whole-row last-write-wins),
/// `Contact` (merged per field), `Payment` (a stream by account, drafts filtered out) and
/// `Note` (restricted: a stream keyed by the principal's `Grant`s, which the server writes).
pub(crate) use sync_testkit::entities::{Account, Contact, Grant, Note, Payment};

/// Few ids, so clients often write the same entity.
pub(crate) const IDS: [&str; 3] = ["a0", "a1", "a2"];
/// The contacts' ids.
pub(crate) const CONTACT_IDS: [&str; 3] = ["k0", "k1", "k2"];
/// The payments' ids.
pub(crate) const PAYMENT_IDS: [&str; 3] = ["q0", "q1", "q2"];
/// The notes' ids.
pub(crate) const NOTE_IDS: [&str; 3] = ["n0", "n1", "n2"];
/// The accounts payments and notes are partitioned by.
pub(crate) const KEYS: [&str; 3] = ["A", "B", "C"];

/// The payment buckets client `index` subscribes to: client 0 to A, client 1 to A and B,
/// any other client to none (it takes payments whole).
pub(crate) fn payment_keys(index: usize) -> &'static [&'static str] {
    match index {
        0 => &["A"],
        1 => &["A", "B"],
        _ => &[],
    }
}

/// The entity type of an id of the simulation.
pub(crate) fn entity_type_of(id: &str) -> &'static str {
    if CONTACT_IDS.contains(&id) {
        "Contact"
    } else if PAYMENT_IDS.contains(&id) {
        "Payment"
    } else if NOTE_IDS.contains(&id) {
        "Note"
    } else {
        "Account"
    }
}
/// The simulated wall clock at the start of a run: 2026-03-01T00:00:00Z.
pub(crate) const START_MS: i64 = 1_772_323_200_000;

/// SplitMix64: a small, seedable generator, so a seed replays exactly.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A client's local clock: the simulated time, off by a fixed skew.
struct Skewed(i64);

impl WallClock for Skewed {
    fn now(&self) -> Version {
        Version::now().add_millis(self.0)
    }
}

struct Slot {
    client: Option<Client>,
    path: PathBuf,
    /// The `sync_now` calls running, aborted when the client crashes.
    syncs: Vec<tokio::task::JoinHandle<()>>,
    starts: u64,
}

/// What a run did, for the report.
#[derive(Debug, Default, Clone)]
pub(crate) struct Report {
    pub(crate) steps: u64,
    pub(crate) delivered: u64,
    pub(crate) trace: u64,
    pub(crate) lost_acks: u64,
    pub(crate) lost_ack_races: u64,
    pub(crate) server_restarts: u64,
    pub(crate) client_restarts: u64,
    pub(crate) checkpoints: checkpoints::Figures,
}

pub(crate) struct World {
    pub(crate) rng: Rng,
    seed: u64,
    dir: tempfile::TempDir,
    pub(crate) net: net::Shared,
    store_calls: Arc<AtomicUsize>,
    pub(crate) store: Option<Counting>,
    /// Every change the server committed, across its restarts: the checkpoint oracle's
    /// model.
    pub(crate) history: history::Shared,
    /// The checkpoint oracle, which runs at every quiescence.
    pub(crate) watch: RefCell<Watch>,
    pub(crate) tenant: TenantId,
    slots: Vec<Slot>,
    edits: u64,
    pub(crate) report: Report,
}

pub(crate) fn registry() -> Registry {
    Registry::builder()
        .entity::<Account>()
        .entity::<Contact>()
        .entity::<Payment>()
        .entity::<Grant>()
        .entity::<Note>()
        .build()
        .unwrap()
}

impl World {
    pub(crate) async fn new(seed: u64, clients: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let slots = (0..clients)
            .map(|index| Slot {
                client: None,
                path: dir.path().join(format!("client-{index}.db")),
                syncs: Vec::new(),
                starts: 0,
            })
            .collect();
        let mut world = World {
            rng: Rng(seed),
            seed,
            dir,
            net: net::Shared::default(),
            store_calls: Arc::new(AtomicUsize::new(0)),
            store: None,
            history: history::Shared::default(),
            watch: RefCell::new(Watch::new()),
            tenant: TenantId::new("sim").unwrap(),
            slots,
            edits: 0,
            report: Report::default(),
        };
        world.net.lock().verbose = std::env::var_os("SIM_TRACE").is_some();
        world.server_up().await;
        for index in 0..clients {
            world.client_up(index).await;
        }
        world
    }

    /// Waits until nothing can happen without a step: no store call or replica statement
    /// in flight (they run on sqlx's threads) and no task with work left; then checks the
    /// replicas that have just applied a checkpoint.
    pub(crate) async fn quiesce(&self) {
        let mut calm = 0;
        let mut waits = 0u32;
        let mut last = self.net.lock().sent;
        while calm < 3 {
            tokio::task::yield_now().await;
            let sent = self.net.lock().sent;
            let busy = self.store_calls.load(Ordering::SeqCst) > 0
                || self.slots.iter().any(|slot| {
                    slot.client
                        .as_ref()
                        .is_some_and(|client| !client.__replica_idle())
                });
            if busy {
                calm = 0;
                waits += 1;
                assert!(waits < 2_000_000, "the simulation is stuck on the database");
                std::thread::sleep(Duration::from_micros(20));
            } else if sent != last {
                calm = 0;
            } else {
                calm += 1;
            }
            last = sent;
        }
        self.observe().await;
    }

    async fn server_up(&mut self) {
        let inner = SqliteStore::builder(self.dir.path().join("server"), registry())
            .synchronous(Synchronous::Off)
            .open()
            .await
            .unwrap();
        let store = Counting {
            inner,
            in_flight: self.store_calls.clone(),
            history: self.history.clone(),
        };
        let engine = Engine::new(store.clone(), Hub::new(256), engine::Config::default());
        let (shutdown, _) = watch::channel(false);
        self.net.lock().server = Some(Server {
            engine,
            tenant: self.tenant.clone(),
            shutdown,
        });
        self.store = Some(store);
    }

    async fn server_down(&mut self) {
        let server = {
            let mut net = self.net.lock();
            net.cut_all();
            net.server.take()
        };
        if let Some(server) = &server {
            let _ = server.shutdown.send(true);
        }
        self.quiesce().await;
        drop(server);
        self.store = None;
        self.quiesce().await;
        self.report.server_restarts += 1;
    }

    async fn client_up(&mut self, index: usize) {
        let seed = self.seed;
        let skew = i64::try_from(self.rng.below(240_001)).unwrap_or(0) - 120_000;
        let slot = &mut self.slots[index];
        slot.starts += 1;
        let client = Client::builder("ws://sim/ws")
            .tenant(self.tenant.as_str())
            .database(&slot.path)
            .entity::<Account>()
            .entity::<Contact>()
            .entity::<Payment>()
            .entity::<Grant>()
            .entity::<Note>()
            .synchronous(Synchronous::Off)
            .connector(self.net.connector(index))
            .wall_clock(Skewed(skew))
            .jitter_seed(seed ^ ((index as u64) << 32) ^ slot.starts)
            .connect_timeout(Duration::from_secs(2))
            .answer_timeout(Duration::from_secs(4))
            .ping_interval(Duration::from_secs(1))
            .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(2))
            .retry_backoff(Duration::from_millis(100), Duration::from_secs(2))
            .max_attempts(100_000)
            .batch_size(3)
            .max_in_flight(2)
            .page_size(4)
            .build()
            .await
            .unwrap();
        self.watch.get_mut().start(index, &client);
        // Subscriptions are stored in the replica: made at the first start, resumed after.
        if slot.starts == 1 {
            if !payment_keys(index).is_empty() {
                client
                    .subscribe::<Payment>(
                        "payments_by_account",
                        payment_keys(index).iter().copied(),
                    )
                    .await
                    .unwrap();
            }
            client
                .subscribe::<Note>("notes_by_account", KEYS)
                .await
                .unwrap();
        }
        slot.client = Some(client);
        self.quiesce().await;
    }

    /// Stops client `index`: cleanly (`close`) or as a crash (its task dropped where it
    /// stands, entries left `processing` on disk).
    async fn client_down(&mut self, index: usize, crash: bool) {
        let slot = &mut self.slots[index];
        let Some(client) = slot.client.take() else {
            return;
        };
        if crash {
            for sync in slot.syncs.drain(..) {
                sync.abort();
            }
            drop(client);
        } else {
            client.close().await.unwrap();
            slot.syncs.clear();
        }
        self.quiesce().await;
        // A dropped replica connection closes on its worker thread.
        std::thread::sleep(Duration::from_millis(1));
        self.quiesce().await;
        self.report.client_restarts += 1;
    }

    pub(crate) fn client(&self, index: usize) -> Option<&Client> {
        self.slots[index].client.as_ref()
    }

    pub(crate) fn clients(&self) -> impl Iterator<Item = (usize, &Client)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| slot.client.as_ref().map(|client| (index, client)))
    }

    /// One step chosen by the seed, then quiescence.
    pub(crate) async fn step(&mut self) {
        self.report.steps += 1;
        let clients = self.slots.len();
        let roll = self.rng.below(100);
        match roll {
            0..=34 => {
                let burst = 1 + self.rng.below(4);
                for _ in 0..burst {
                    self.deliver_one(true);
                    self.quiesce().await;
                }
            }
            35..=37 => {
                if let Some((stream, index)) = self.pick(true) {
                    self.net.lock().drop_frame(stream, index);
                }
            }
            38..=40 => {
                if let Some((stream, index)) = self.pick(true) {
                    self.net.lock().duplicate(stream, index);
                }
            }
            41..=58 => {
                let ticks = 1 + self.rng.below(30);
                self.advance(ticks).await;
            }
            59..=80 => self.edit().await,
            81..=82 => {
                let mut net = self.net.lock();
                let conns = net.conns();
                if !conns.is_empty() {
                    let conn = conns[self.rng.below(conns.len())];
                    net.cut(conn);
                }
            }
            83..=88 => {
                // The issue-17 hazard: the server committed, the ACK is on its way, the
                // connection goes.
                let mut net = self.net.lock();
                let conns = net.conns_with_ack();
                if !conns.is_empty() {
                    let conn = conns[self.rng.below(conns.len())];
                    net.cut(conn);
                }
            }
            89 => {
                self.server_down().await;
                if self.rng.chance(60) {
                    self.server_up().await;
                }
            }
            90..=93 if self.store.is_none() => self.server_up().await,
            90..=91 => {
                let index = self.rng.below(clients);
                let crash = self.rng.chance(50);
                self.client_down(index, crash).await;
                self.client_up(index).await;
            }
            _ => {
                let index = self.rng.below(clients);
                if let Some(client) = self.client(index).cloned() {
                    let sync = tokio::spawn(async move {
                        let _ = client.sync_now(Duration::from_secs(5)).await;
                    });
                    self.slots[index].syncs.push(sync);
                }
            }
        }
        self.quiesce().await;
    }

    /// A frame on its way: of a random stream, its oldest, or (when `anywhere`) any.
    fn pick(&mut self, anywhere: bool) -> Option<(net::Stream, usize)> {
        let streams = self.net.lock().streams();
        if streams.is_empty() {
            return None;
        }
        let (stream, len) = streams[self.rng.below(streams.len())];
        let index = if anywhere { self.rng.below(len) } else { 0 };
        Some((stream, index))
    }

    /// Delivers one frame: the oldest of a random stream, or (when `reorder`, sometimes)
    /// a later one, overtaking the others.
    fn deliver_one(&mut self, reorder: bool) -> bool {
        let anywhere = reorder && self.rng.chance(15);
        let Some((stream, index)) = self.pick(anywhere) else {
            return false;
        };
        self.net.lock().deliver(stream, index);
        true
    }

    /// Moves simulated time by `ticks` × 10 ms, letting every timer due fire in order.
    pub(crate) async fn advance(&self, ticks: usize) {
        for _ in 0..ticks {
            tokio::time::advance(Duration::from_millis(10)).await;
            self.quiesce().await;
        }
    }

    async fn edit(&mut self) {
        let index = self.rng.below(self.slots.len());
        match self.rng.below(100) {
            0..=29 => return self.edit_contact(index).await,
            30..=49 => return self.edit_payment(index).await,
            50..=59 => return self.edit_note(index).await,
            60..=64 => return self.grant_or_revoke().await,
            _ => {}
        }
        let id = IDS[self.rng.below(IDS.len())];
        let delete = self.rng.chance(25);
        self.edits += 1;
        let edit = self.edits;
        let Some(client) = self.client(index) else {
            return;
        };
        if delete {
            client.delete::<Account>(id).await.unwrap();
        } else {
            let account = Account::new(id, &format!("c{index}-{edit}"), edit as f64);
            client.put(&account).await.unwrap();
        }
    }

    /// A payment created, moved to another account, made a draft or not, or deleted.
    async fn edit_payment(&mut self, index: usize) {
        let id = PAYMENT_IDS[self.rng.below(PAYMENT_IDS.len())];
        let key = KEYS[self.rng.below(KEYS.len())];
        let draft = self.rng.chance(15);
        let delete = self.rng.chance(15);
        self.edits += 1;
        let edit = self.edits;
        let Some(client) = self.client(index) else {
            return;
        };
        if delete {
            client.delete::<Payment>(id).await.unwrap();
        } else {
            let payment = Payment {
                id: id.to_owned(),
                account_id: key.to_owned(),
                amount: i64::try_from(edit).unwrap_or_default(),
                draft,
                updated_at: None,
            };
            client.put(&payment).await.unwrap();
        }
    }

    /// A note written (or moved) by a client, which the server refuses outside the
    /// client's grants.
    async fn edit_note(&mut self, index: usize) {
        let id = NOTE_IDS[self.rng.below(NOTE_IDS.len())];
        let key = KEYS[self.rng.below(KEYS.len())];
        self.edits += 1;
        let edit = self.edits;
        let Some(client) = self.client(index) else {
            return;
        };
        let note = Note {
            id: id.to_owned(),
            account_id: key.to_owned(),
            text: format!("c{index}-{edit}"),
            updated_at: None,
        };
        client.put(&note).await.unwrap();
    }

    /// The server's own code grants a client an account, or revokes it: the client's
    /// session re-resolves its notes' buckets.
    async fn grant_or_revoke(&mut self) {
        let client = self.rng.below(self.slots.len());
        let key = KEYS[self.rng.below(KEYS.len())];
        let revoke = self.rng.chance(40);
        let engine = self
            .net
            .lock()
            .server
            .as_ref()
            .map(|server| server.engine.clone());
        let Some(engine) = engine else { return };
        let id = format!("client-{client}-{key}");
        let tenant = self.tenant.clone();
        // On a task of its own, as server code runs: the step does not wait for the commit
        // (quiescence does). A refusal or a restart in between: the app would try again.
        tokio::spawn(async move {
            let _ = if revoke {
                engine.delete::<Grant>(&tenant, &id).await
            } else {
                let grant = Grant {
                    id,
                    user_id: format!("client-{client}"),
                    account_id: key.to_owned(),
                    updated_at: None,
                };
                engine.put(&tenant, &grant).await
            };
        });
    }

    /// One field of a contact as the client holds it: its name, its e-mail address or its
    /// visits (a `max` field, set up or down); rarely a delete, which is final.
    async fn edit_contact(&mut self, index: usize) {
        let id = CONTACT_IDS[self.rng.below(CONTACT_IDS.len())];
        let field = self.rng.below(3);
        let delete = self.rng.chance(4);
        let visits = i64::try_from(self.rng.below(50)).unwrap_or(0);
        self.edits += 1;
        let edit = self.edits;
        let Some(client) = self.client(index) else {
            return;
        };
        if delete {
            client.delete::<Contact>(id).await.unwrap();
            return;
        }
        let mut contact = client
            .get::<Contact>(id)
            .await
            .unwrap()
            .unwrap_or_else(|| Contact::new(id, "new"));
        match field {
            0 => contact.name = format!("c{index}-{edit}"),
            1 => contact.email = Some(format!("c{index}-{edit}@example.com")),
            _ => contact.visits = visits,
        }
        client.put(&contact).await.unwrap();
    }

    /// No more faults: the server runs, every client runs, every frame is delivered in
    /// order, and time moves until everyone has caught up and sent everything; then a
    /// `sync_now` of every client must succeed.
    pub(crate) async fn converge(&mut self) -> Result<(), String> {
        if self.store.is_none() {
            self.server_up().await;
        }
        for index in 0..self.slots.len() {
            if self.slots[index].client.is_none() {
                self.client_up(index).await;
            }
        }
        let mut settled = false;
        for _ in 0..3_000 {
            while self.deliver_one(false) {
                self.quiesce().await;
            }
            if self.caught_up().await {
                settled = true;
                break;
            }
            self.advance(5).await;
        }
        if !settled {
            let Some(store) = &self.store else {
                return Err("no server".to_owned());
            };
            let cursor = sync_core::store::Store::cursor(store, &self.tenant)
                .await
                .unwrap();
            let mut states = Vec::new();
            for (index, client) in self.clients() {
                let status = client.status().borrow().clone();
                let subscriptions: Vec<String> = client
                    .subscriptions()
                    .await
                    .unwrap()
                    .iter()
                    .map(|subscription| {
                        format!(
                            "{} {:?} cursor {:?} buckets {:?} error {:?}",
                            subscription.stream,
                            subscription.state,
                            subscription.cursor,
                            subscription.buckets,
                            subscription.error
                        )
                    })
                    .collect();
                states.push(format!(
                    "client {index}: {:?}, {} pending, {} processing, cursor {}, subscriptions {subscriptions:?}",
                    status.connection,
                    status.pending,
                    status.processing,
                    client.cursor().await.unwrap()
                ));
            }
            return Err(format!(
                "the clients did not catch up with the server (cursor {cursor}) within 150 s: {}",
                states.join("; ")
            ));
        }
        // A `sync_now` of every client must succeed. It fails when its connection is lost,
        // which a frame lost before the faults stopped may still cause once (the page or
        // batch it answered times out): then the app calls it again.
        let mut attempts = 0;
        loop {
            let syncs: Vec<_> = self
                .clients()
                .map(|(index, client)| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        client
                            .sync_now(Duration::from_secs(60))
                            .await
                            .map_err(|error| format!("client {index}: sync_now: {error}"))
                    })
                })
                .collect();
            for _ in 0..10_000 {
                if syncs.iter().all(tokio::task::JoinHandle::is_finished) {
                    break;
                }
                while self.deliver_one(false) {
                    self.quiesce().await;
                }
                self.advance(1).await;
            }
            let mut failed = None;
            for sync in syncs {
                if let Err(error) = sync.await.map_err(|error| error.to_string())? {
                    failed = Some(error);
                }
            }
            attempts += 1;
            match failed {
                None => break,
                Some(error) if attempts >= 3 => return Err(error),
                Some(_) => {}
            }
        }
        while self.deliver_one(false) {
            self.quiesce().await;
        }
        self.quiesce().await;
        Ok(())
    }

    async fn caught_up(&self) -> bool {
        let Some(store) = &self.store else {
            return false;
        };
        let cursor = sync_core::store::Store::cursor(store, &self.tenant)
            .await
            .unwrap();
        for (_, client) in self.clients() {
            let status = client.status().borrow().clone();
            if status.connection != sync_client::status::Connection::Online
                || status.pending > 0
                || status.processing > 0
                || client.cursor().await.unwrap() != cursor
            {
                return false;
            }
        }
        true
    }

    /// Closes everything.
    pub(crate) async fn finish(mut self) -> Report {
        for index in 0..self.slots.len() {
            if let Some(client) = self.slots[index].client.take() {
                let _ = client.close().await;
            }
        }
        self.server_down().await;
        let net = self.net.lock();
        let mut report = self.report.clone();
        report.trace = net.trace;
        report.delivered = net.delivered;
        report.lost_acks = net.observed.lost_acks;
        report.lost_ack_races = net.observed.lost_ack_races;
        report.checkpoints = self.watch.borrow().figures;
        report
    }
}
