//! The initial load of a large tenant: how long `request_initial_data` takes and how much
//! memory it costs, through a real [`Session`] over channels.
//!
//! `cargo bench -p sync-core --bench initial_load` fills a tenant with 100,000 accounts of
//! FinWise's width (`-- --accounts N` for another size, `--runs R` for the timed runs, `--streamed-only`
//! to skip the comparison, `--data-dir D` to keep the filled database in `D` for the next run), then
//! prints the payload size; the time from the request to the received frame (median, min
//! and max of the runs); and the process's VmRSS and VmHWM (from `/proc/self/status`) before
//! the first load, with the frame held, and after it is dropped, for a first and a second
//! load. The high-water mark is reset between measurements by writing `5` to
//! `/proc/self/clear_refs`; where that is refused, VmHWM only grows and the growth is
//! printed. The same figures follow for the tree-built encoding (`Store::snapshot` then
//! `initial_data_load(…).to_text()`) the streamed one replaced, for comparison.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use sync_core::change::Change;
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::protocol::initial_data_load;
use sync_core::session::{self, Inbound, Outbound, Session};
use sync_core::store::Store;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Registry, Syncable, TenantId};
use tokio::sync::watch;

/// FinWise's `Account` (examples/finwise/src/entities/account.rs), field for field.
#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    name: String,
    description: Option<String>,
    note: Option<String>,
    #[sync(json)]
    account_type: String,
    is_active: bool,
    is_offline_budget: bool,
    account_group_id: String,
    sort_order: i32,
    iban: Option<String>,
    balance: f64,
    credit_limit: Option<f64>,
    offset: i32,
    #[serde(rename = "logo_path")]
    logo_path: Option<String>,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

fn account(n: usize) -> Account {
    let kinds = ["giro", "tagesgeld", "kreditkarte", "depot", "bargeld"];
    Account {
        id: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            n * 7919,
            n % 65_536,
            n % 4096,
            (n * 31) % 4096,
            n * 104_729
        ),
        name: format!("Konto {n} Haushalt"),
        description: Some(format!(
            "Gemeinsames Konto Nummer {n} für laufende Ausgaben"
        )),
        note: n
            .is_multiple_of(2)
            .then(|| format!("Notiz {n}: Dauerauftrag prüfen")),
        account_type: kinds[n % kinds.len()].to_owned(),
        is_active: !n.is_multiple_of(10),
        is_offline_budget: n.is_multiple_of(7),
        account_group_id: format!("{:08x}-0000-4000-8000-{:012x}", n % 50, n % 50),
        sort_order: i32::try_from(n % 100).unwrap(),
        iban: Some(format!("DE{:02}{:018}", n % 97, n * 7_919)),
        balance: (n as f64) * 13.37 - 5_000.0,
        credit_limit: n.is_multiple_of(3).then_some(2_500.0),
        offset: i32::try_from(n % 28).unwrap(),
        logo_path: n
            .is_multiple_of(4)
            .then(|| format!("/logos/bank-{}.png", n % 40)),
        updated_at: DateTime::from_timestamp_millis(1_767_225_600_000 + n as i64),
    }
}

/// VmHWM and VmRSS of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The CPU time this process has used, all threads, from `/proc/self/stat` (10 ms ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // utime and stime are fields 14 and 15 of the line: 12th and 13th after the name.
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Resets VmHWM to the current RSS; false where the kernel refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Client {
    to_session: mpsc::Sender<Inbound>,
    from_session: mpsc::Receiver<Outbound>,
}

impl Client {
    async fn next_text(&mut self) -> std::sync::Arc<str> {
        loop {
            match self.from_session.next().await {
                Some(Outbound::Text(text)) if text.ends_with(r#""type":"ping"}"#) => {}
                Some(Outbound::Text(text)) => return text,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends `request_initial_data` and returns the frame and how long it took.
    async fn initial_load(&mut self) -> (std::sync::Arc<str>, Duration, Duration) {
        let request = r#"{"type":"request_initial_data","tenant_id":"big"}"#;
        let cpu = cpu_time();
        let started = Instant::now();
        self.to_session
            .send(Inbound::Text(request.to_owned()))
            .await
            .unwrap();
        let frame = self.next_text().await;
        (frame, started.elapsed(), cpu_time().saturating_sub(cpu))
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn report(
    label: &str,
    before: (u64, u64),
    held: (u64, u64),
    after: (u64, u64),
    payload: usize,
    reset: bool,
) {
    let payload_kib = payload as f64 / 1024.0;
    let growth = held
        .0
        .saturating_sub(if reset { before.1 } else { before.0 });
    println!(
        "  {label}: RSS before {:.1} MiB, peak (VmHWM) {:.1} MiB, RSS with frame {:.1} MiB, RSS after drop {:.1} MiB; \
         peak growth {:.1} MiB = {:.2} x payload; retained {:+.1} MiB",
        mib(before.1),
        mib(held.0),
        mib(held.1),
        mib(after.1),
        mib(growth),
        growth as f64 / payload_kib,
        mib(after.1) - mib(before.1),
    );
}

fn spread(mut durations: Vec<Duration>) -> String {
    durations.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.0} ms (min {:.0}, max {:.0}, {} runs)",
        ms(durations[durations.len() / 2]),
        ms(durations[0]),
        ms(durations[durations.len() - 1]),
        durations.len()
    )
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .map_or(default, |value| value.parse().expect("a number"))
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let accounts = arg("--accounts", 100_000);
    let runs = arg("--runs", 7).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = std::env::args()
            .skip_while(|arg| arg != "--data-dir")
            .nth(1)
            .map_or_else(|| dir.path().to_path_buf(), std::path::PathBuf::from);
        let registry = Registry::builder().entity::<Account>().build().unwrap();
        let store = SqliteStore::builder(&data_dir, registry)
            .synchronous(Synchronous::Off)
            .open()
            .await
            .unwrap();
        let tenant = TenantId::new("big").unwrap();
        let filling = Instant::now();
        let stored = usize::try_from(store.cursor(&tenant).await.unwrap()).unwrap();
        for chunk in (stored.min(accounts)..accounts)
            .collect::<Vec<_>>()
            .chunks(2_000)
        {
            let changes: Vec<Change> = chunk
                .iter()
                .map(|n| Change::upsert(&account(*n)).unwrap())
                .collect();
            store.apply(&tenant, &changes).await.unwrap();
        }
        println!(
            "initial load of {accounts} FinWise accounts (SQLite), filled in {:.1} s",
            filling.elapsed().as_secs_f64()
        );

        let engine = Engine::new(store.clone(), Hub::new(64), engine::Config::default());
        let (to_session, inbound) = mpsc::channel(8);
        let (outbound, from_session) = mpsc::channel(8);
        let (_shutdown, stop) = watch::channel(false);
        let session = Session::new(
            engine,
            tenant.clone(),
            "bench",
            session::Config {
                ping_interval: Duration::from_secs(3600),
                idle_timeout: Duration::from_secs(3600),
                ..session::Config::default()
            },
            stop,
        );
        tokio::spawn(session.run(inbound, outbound));
        let mut client = Client {
            to_session,
            from_session,
        };
        client.next_text().await; // status: online

        let reset = reset_peak();
        if !reset {
            println!(
                "  /proc/self/clear_refs refused: VmHWM growth is reported instead of peak over RSS"
            );
        }
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut payload = 0;
        for load in ["first load", "second load"] {
            reset_peak();
            let before = memory();
            let (frame, took, used) = client.initial_load().await;
            let held = memory();
            payload = frame.len();
            times.push(took);
            cpu.push(used);
            drop(frame);
            // The session drops its handle on the frame just after sending it.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = memory();
            report(load, before, held, after, payload, reset);
        }
        println!(
            "  payload {:.1} MiB ({payload} bytes)",
            payload as f64 / 1024.0 / 1024.0
        );
        for _ in 2..runs {
            let (_, took, used) = client.initial_load().await;
            times.push(took);
            cpu.push(used);
        }
        println!("  streamed (session over channels): {}", spread(times));
        println!(
            "    process CPU time per load (all threads): {}",
            spread(cpu)
        );

        if std::env::args().any(|arg| arg == "--streamed-only") {
            return;
        }
        // The encoding this replaced: every row as a JSON value, then the tree as text.
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        for run in 0..runs.min(3) {
            reset_peak();
            let before = memory();
            let used = cpu_time();
            let started = Instant::now();
            let snapshot = store.snapshot(&tenant).await.unwrap();
            let message = initial_data_load(&tenant, snapshot);
            let frame = std::sync::Arc::<str>::from(message.to_text());
            times.push(started.elapsed());
            cpu.push(cpu_time().saturating_sub(used));
            let held = memory();
            drop((message, frame));
            let after = memory();
            if run == 0 {
                report(
                    "tree-built, for comparison",
                    before,
                    held,
                    after,
                    payload,
                    reset,
                );
            }
        }
        println!("  tree-built: {}", spread(times));
        println!(
            "    process CPU time per load (all threads): {}",
            spread(cpu)
        );
    });
}
