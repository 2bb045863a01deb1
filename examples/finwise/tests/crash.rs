//! Crash durability: the `finwise` server process (SQLite, `synchronous = FULL`) is killed
//! with SIGKILL at random moments while three clients stream changes, and restarted on the
//! same data directory each time; the clients reconnect and carry on.
//!
//! Every change the server acknowledged as `applied` must survive: after the last kill, a
//! fresh server opened on the data directory holds, for every entity, a version at least as
//! new as the newest ACKed one, and where the stored version is exactly that one, the same
//! kind of state (an ACKed delete is not undone by an older change, an ACKed write is not
//! replaced by an older delete). Versions are unique per entity (each client's versions of an
//! entity increase, and lie in a residue class modulo the number of clients of its own), so
//! a stored version names exactly one change. `PRAGMA integrity_check` must answer `ok` on
//! the tenant's database and on `auth.db`.
//!
//! The kill moments come from a seeded RNG; the test prints the seed, and `CRASH_SEED=n`
//! replays the same schedule (the interleaving of the clients still depends on timing).
//! `CRASH_KILLS` sets the number of kills (20 by default):
//!
//! ```text
//! CRASH_KILLS=100 cargo test -p finwise --release --test crash -- --nocapture
//! ```

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::SECRET;
use common::process::spawn_in;
use common::ws::{Socket, account, entry, try_connect};
use common::{create_tenant, user};
use futures::{SinkExt as _, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use sync_core::TenantId;
use sync_core::store::Store as _;
use sync_core::version::Version;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// How many clients stream changes at once.
const CLIENTS: u64 = 3;
/// How many accounts the clients create, update and delete.
const IDS: u64 = 300;
/// How many changes a client has sent and not yet had answered, at most.
const IN_FLIGHT: usize = 64;

/// What the clients were told: the newest `applied` ACK of each entity, and counts.
#[derive(Default)]
struct Ledger {
    /// Per account id: the version of its newest applied ACK, and whether it was a delete.
    newest: BTreeMap<String, (Version, bool)>,
    applied: u64,
    superseded: u64,
    duplicate: u64,
    retryable_nacks: u64,
}

impl Ledger {
    fn answers(&self) -> u64 {
        self.applied + self.superseded + self.duplicate + self.retryable_nacks
    }
}

/// A change sent and not yet answered: its account, version and whether it is a delete.
type Pending = BTreeMap<String, (String, Version, bool)>;

/// A client's writing state: its RNG, its entry counter and its last version per account.
struct Writer {
    index: u64,
    tenant: String,
    rng: StdRng,
    counter: u64,
    last: BTreeMap<String, i64>,
}

impl Writer {
    /// The next version of `id` for this client: now, or later than its previous one, in
    /// this client's residue class modulo [`CLIENTS`] (so no two changes of an account
    /// share a version).
    fn version(&mut self, id: &str) -> Version {
        let now = chrono::Utc::now().timestamp_millis();
        let mut millis = self.last.get(id).map_or(now, |last| now.max(last + 1));
        millis +=
            (self.index as i64 - millis.rem_euclid(CLIENTS as i64)).rem_euclid(CLIENTS as i64);
        self.last.insert(id.to_owned(), millis);
        Version::from_millis(millis).unwrap()
    }

    /// One change of a random account: a create (the client's first write of it), an
    /// update, or (one in six) a delete.
    fn change(&mut self, id: &str, pending: &mut Pending) -> Value {
        self.counter += 1;
        let entry_id = format!("c{}-{}", self.index, self.counter);
        let first = !self.last.contains_key(id);
        let version = self.version(id);
        let delete = !first && self.rng.random_ratio(1, 6);
        let (operation, payload) = if delete {
            (
                "delete",
                json!({"id": id, "updated_at": version.to_string()}),
            )
        } else {
            let name = format!("client {} change {}", self.index, self.counter);
            let operation = if first { "create" } else { "update" };
            (operation, account(id, &name, &version.to_string()))
        };
        pending.insert(entry_id.clone(), (id.to_owned(), version, delete));
        entry(&entry_id, &self.tenant, "Account", operation, id, payload)
    }

    /// The next message: one `process_sync_entry`, or (three times in ten) a
    /// `process_sync_batch` of 2 to 6 distinct accounts.
    fn message(&mut self, pending: &mut Pending) -> Value {
        if self.rng.random_ratio(3, 10) {
            let size = self.rng.random_range(2..=6);
            let mut ids: Vec<String> = Vec::new();
            while ids.len() < size {
                let id = format!("acct-{}", self.rng.random_range(0..IDS));
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            let entries: Vec<Value> = ids.iter().map(|id| self.change(id, pending)).collect();
            json!({"type": "process_sync_batch", "entries": entries})
        } else {
            let id = format!("acct-{}", self.rng.random_range(0..IDS));
            json!({"type": "process_sync_entry", "payload": self.change(&id, pending)})
        }
    }
}

/// A session on the server at `base`, once it said it is online; `None` if it is not up.
async fn online(base: &str, tenant: &str, token: &str) -> Option<Socket> {
    let base = base.to_owned();
    let connecting = try_connect(&base, tenant, Some(token));
    let mut socket = tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .ok()?
        .ok()?;
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .ok()??
        .ok()?;
    let Message::Text(text) = first else {
        return None;
    };
    let status: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status, json!({"type": "status", "status": "online"}));
    Some(socket)
}

/// Records one answer of the server in `ledger`; whether it answered a change.
fn record(message: &Value, pending: &mut Pending, ledger: &Mutex<Ledger>) -> bool {
    let kind = message["type"].as_str().or(message["event_type"].as_str());
    match kind {
        Some("sync_ack") => {
            let id = message["id"].as_str().unwrap();
            let (entity, version, delete) = pending
                .remove(id)
                .unwrap_or_else(|| panic!("an ACK of a change not in flight: {message}"));
            assert_eq!(message["entityId"], entity.as_str(), "{message}");
            let mut ledger = ledger.lock().unwrap();
            match message["outcome"].as_str() {
                Some("applied") => {
                    assert_eq!(message["updated_at"], version.to_string(), "{message}");
                    ledger.applied += 1;
                    let newest = ledger.newest.entry(entity).or_insert((version, delete));
                    if version > newest.0 {
                        *newest = (version, delete);
                    }
                }
                Some("superseded") => ledger.superseded += 1,
                Some("duplicate") => ledger.duplicate += 1,
                _ => panic!("an ACK without a known outcome: {message}"),
            }
            true
        }
        Some("sync_nack") => {
            assert_eq!(
                message["retryable"], true,
                "a change was refused: {message}"
            );
            pending.remove(message["id"].as_str().unwrap());
            ledger.lock().unwrap().retryable_nacks += 1;
            true
        }
        Some("data_update" | "ping" | "status") => false,
        _ => panic!("unexpected {message}"),
    }
}

/// One client: connects to whatever server `url` names, streams changes without waiting
/// for each answer (at most [`IN_FLIGHT`] unanswered), records every answer, and reconnects
/// when the connection ends, until `stop` is set.
async fn client(
    mut writer: Writer,
    token: String,
    url: watch::Receiver<Option<String>>,
    stop: watch::Receiver<bool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let base = url.borrow().clone();
        let socket = match base {
            Some(base) => online(&base, &writer.tenant, &token).await,
            None => None,
        };
        let Some(socket) = socket else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (mut sink, mut stream) = socket.split();
        // Changes whose answer is lost with the connection may or may not be stored:
        // nothing is claimed about them.
        let pending = Mutex::new(Pending::new());
        let in_flight = tokio::sync::Semaphore::new(IN_FLIGHT);
        let sending = async {
            while !*stop.borrow() {
                let (message, entries) = {
                    let mut pending = pending.lock().unwrap();
                    let before = pending.len();
                    let message = writer.message(&mut pending);
                    (message, pending.len() - before)
                };
                let permits = in_flight.acquire_many(entries as u32).await.unwrap();
                permits.forget();
                if sink.send(Message::text(message.to_string())).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        };
        let reading = async {
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(text) = frame {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if record(&message, &mut pending.lock().unwrap(), &ledger) {
                        in_flight.add_permits(1);
                    }
                }
            }
        };
        tokio::select! {
            () = sending => {}
            () = reading => {}
        }
    }
}

/// `PRAGMA integrity_check` on the SQLite database at `path`: `ok` when it is sound.
async fn integrity(path: &Path) -> String {
    use sqlx::Connection as _;
    assert!(path.exists(), "{} exists", path.display());
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    rows.join("; ")
}

/// An environment variable as a number, or `default` when it is unset.
fn number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?}: expected a whole number")),
        Err(_) => default,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_changes_survive_sigkill_at_random_moments() {
    let seed = number("CRASH_SEED", rand::random::<u32>().into());
    let kills = number("CRASH_KILLS", 20);
    assert!(kills > 0, "CRASH_KILLS must be at least 1");
    eprintln!("crash test: CRASH_SEED={seed} CRASH_KILLS={kills}");
    let started = Instant::now();

    let data = tempfile::tempdir().unwrap();
    let args = vec![
        "--jwt-secret".to_owned(),
        String::from_utf8(SECRET.to_vec()).unwrap(),
    ];
    let mut process = spawn_in(data.path(), &args).await;
    let owner = user(&process.url, "dora").await;
    let tenant = create_tenant(&process.url, &owner, "Crash").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    let (url_tx, url_rx) = watch::channel(Some(process.url.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let writer = Writer {
                index,
                tenant: tenant.clone(),
                rng: StdRng::seed_from_u64(seed.wrapping_add(index + 1)),
                counter: 0,
                last: BTreeMap::new(),
            };
            tokio::spawn(client(
                writer,
                owner.token.clone(),
                url_rx.clone(),
                stop_rx.clone(),
                ledger.clone(),
            ))
        })
        .collect();

    let mut schedule = StdRng::seed_from_u64(seed);
    for kill in 1..=kills {
        // Stream for a random while, and at least until this run has answered something
        // (the clients reconnected and the restarted server works).
        let before = ledger.lock().unwrap().answers();
        tokio::time::sleep(Duration::from_millis(schedule.random_range(20..300))).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while ledger.lock().unwrap().answers() == before {
            assert!(
                Instant::now() < deadline,
                "run {kill}: no answer within 30 s of the restart"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if kill == kills {
            stop_tx.send_replace(true);
        }
        url_tx.send_replace(None);
        process.child.start_kill().unwrap();
        let status = process.child.wait().await.unwrap();
        assert!(!status.success(), "killed: {status}");
        if kill < kills {
            process = spawn_in(data.path(), &args).await;
            url_tx.send_replace(Some(process.url.clone()));
        }
    }
    for client in clients {
        tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("the clients stop after the last kill")
            .unwrap();
    }

    // The databases as the last kill left them.
    for file in [format!("{tenant}.db"), "auth.db".to_owned()] {
        assert_eq!(integrity(&data.path().join(&file)).await, "ok", "{file}");
    }

    // A fresh server on the data directory holds every ACKed change.
    let mut config = finwise::Config::new(data.path());
    config.jwt_secret = Some(SECRET.to_vec());
    let (_, state) = finwise::app(config).await.unwrap();
    let tenant_id = TenantId::new(tenant.clone()).unwrap();
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let mut lost = Vec::new();
    for (id, &(version, deleted)) in &ledger.newest {
        let stored = state
            .store
            .get_state(&tenant_id, "Account", id)
            .await
            .unwrap();
        let kept = stored.as_ref().is_some_and(|stored| {
            stored.version > version || (stored.version == version && stored.deleted == deleted)
        });
        if !kept {
            lost.push(format!(
                "{id}: ACKed {} at {version}, stored {:?}",
                if deleted { "delete" } else { "write" },
                stored.map(|stored| (stored.version.to_string(), stored.deleted))
            ));
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "crash test: {kills} kills, {} applied ACKs ({} superseded, {} duplicate, {} retryable \
         NACKs), {} accounts checked, {:.1} s (CRASH_SEED={seed})",
        ledger.applied,
        ledger.superseded,
        ledger.duplicate,
        ledger.retryable_nacks,
        ledger.newest.len(),
        elapsed.as_secs_f64()
    );
    assert!(ledger.applied > 0, "some change was ACKed");
    assert!(
        lost.is_empty(),
        "{} ACKed changes lost (CRASH_SEED={seed}): {lost:#?}",
        lost.len()
    );
}
