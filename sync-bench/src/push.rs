//! `push`: K clients over T tenants, each keeping W messages in flight, for a fixed time.
//!
//! Every change creates a new `Account` row. Each client first sends one unmeasured
//! message (it opens its tenant's database), then all start together. A client's sender
//! keeps `window` messages unanswered; its receiver counts the ACKs, and a message's
//! latency is from its send to the ACK of its last entry. CPU time is read from the
//! server process and from the load generator before and after the measured time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::sync::{Barrier, Semaphore, mpsc};

use crate::client::{self, Reply};
use crate::proc;
use crate::server::{Server, ServerArgs};
use crate::stats::{Latencies, Summary, number};

/// Options of `push`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PushArgs {
    /// Concurrent clients (K).
    #[arg(long, default_value_t = 10)]
    pub(crate) clients: usize,
    /// Tenants the clients are spread over (T); default: one per client.
    #[arg(long)]
    pub(crate) tenants: Option<usize>,
    /// Messages each client keeps in flight (W); 1 waits for each ACK.
    #[arg(long, default_value_t = 32)]
    pub(crate) window: usize,
    /// Entries per message: 1 sends `process_sync_entry`, more a `process_sync_batch`.
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// How long the measured load lasts, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// What one `push` run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct PushResult {
    pub(crate) changes: u64,
    pub(crate) nacks: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Summary,
    /// Server CPU milliseconds per 1,000 changes.
    pub(crate) server_cpu: f64,
    /// Load generator CPU milliseconds per 1,000 changes.
    pub(crate) client_cpu: f64,
}

impl PushResult {
    pub(crate) fn per_second(&self) -> f64 {
        self.changes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(crate) fn print(&self, args: &PushArgs) {
        let tenants = args.tenants.unwrap_or(args.clients);
        let kind = if args.batch > 1 {
            format!("process_sync_batch of {}", args.batch)
        } else {
            "process_sync_entry".to_owned()
        };
        println!(
            "push: {} clients over {tenants} tenants, {} messages in flight each, {kind}, {:?}",
            args.clients, args.window, args.server.synchronous
        );
        println!(
            "  {} changes/s ({} changes in {:.2} s{})",
            number(self.per_second(), 0),
            number(self.changes as f64, 0),
            self.elapsed.as_secs_f64(),
            if self.nacks > 0 {
                format!(", {} NACKs", self.nacks)
            } else {
                String::new()
            }
        );
        println!(
            "  ACK latency per message: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latency.p50, self.latency.p99, self.latency.max
        );
        println!(
            "  CPU per 1,000 changes: server {:.1} ms, load generator {:.1} ms (separate processes)",
            self.server_cpu, self.client_cpu
        );
    }
}

/// Runs `push` against a fresh server.
pub(crate) async fn run(args: &PushArgs) -> PushResult {
    let mut server = Server::start(&args.server).await;
    let result = load(&mut server, args).await;
    server.stop().await;
    result
}

struct ClientResult {
    changes: u64,
    nacks: u64,
    latencies: Latencies,
    finished: Instant,
}

async fn load(server: &mut Server, args: &PushArgs) -> PushResult {
    let clients = args.clients.max(1);
    let tenants = args.tenants.unwrap_or(clients).max(1);
    let start = Arc::new(Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let address = server.address.clone();
            let tenant = format!("push-{}", client % tenants);
            let (start, args) = (start.clone(), args.clone());
            tokio::spawn(async move { drive(&address, &tenant, client, &args, &start).await })
        })
        .collect();
    start.wait().await; // every client connected and warmed up
    let (server_before, client_before) = (server.stats().await.usage, proc::usage());
    let started = Instant::now();
    start.wait().await; // go
    let mut total = ClientResult {
        changes: 0,
        nacks: 0,
        latencies: Latencies::default(),
        finished: started,
    };
    for task in tasks {
        let result = task.await.expect("a client task");
        total.changes += result.changes;
        total.nacks += result.nacks;
        total.latencies.extend(result.latencies);
        total.finished = total.finished.max(result.finished);
    }
    let (server_after, client_after) = (server.stats().await.usage, proc::usage());
    let per_1k = |before: u64, after: u64| {
        (after.saturating_sub(before)) as f64 / 1e6 / (total.changes.max(1) as f64 / 1000.0)
    };
    PushResult {
        changes: total.changes,
        nacks: total.nacks,
        elapsed: total.finished - started,
        latency: total.latencies.summary(),
        server_cpu: per_1k(server_before.cpu_ns, server_after.cpu_ns),
        client_cpu: per_1k(client_before.cpu_ns, client_after.cpu_ns),
    }
}

/// One client: warm up, wait for the start, then keep `window` messages in flight until
/// the time is up, and wait for every answer.
async fn drive(
    address: &str,
    tenant: &str,
    client: usize,
    args: &PushArgs,
    start: &Barrier,
) -> ClientResult {
    let socket = client::connect(address, tenant).await;
    let (mut sink, mut stream) = socket.split();
    let batch = args.batch.max(1);
    let mut serial = 0_u64;
    let mut message = || {
        let entries: Vec<String> = (0..batch)
            .map(|_| {
                serial += 1;
                let id = format!("k{client}-{serial}");
                client::entry(&id, tenant, &id)
            })
            .collect();
        if batch == 1 {
            client::single(&entries[0])
        } else {
            client::batch(&entries)
        }
    };

    // Unmeasured: the first message opens (and creates) the tenant's database.
    sink.send(message()).await.expect("send");
    let mut answered = 0;
    while answered < batch {
        let frame = stream.next().await.expect("open").expect("a frame");
        if classify_answer(&frame) {
            answered += 1;
        }
    }
    start.wait().await;
    start.wait().await;
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);

    let window = Arc::new(Semaphore::new(args.window.max(1)));
    let (sent, mut waiting) = mpsc::channel::<Instant>(args.window.max(1) + 1);
    let sender = {
        let window = window.clone();
        async move {
            loop {
                match window.try_acquire() {
                    Ok(permit) => permit.forget(),
                    Err(_) => {
                        sink.flush().await.expect("flush");
                        window.acquire().await.expect("open").forget();
                    }
                }
                if Instant::now() >= deadline {
                    break;
                }
                let next = message();
                sent.send(Instant::now()).await.expect("the receiver waits");
                sink.feed(next).await.expect("send");
            }
            sink.flush().await.expect("flush");
            drop(sent);
            sink
        }
    };
    let receiver = async {
        let mut result = ClientResult {
            changes: 0,
            nacks: 0,
            latencies: Latencies::default(),
            finished: Instant::now(),
        };
        while let Some(at) = waiting.recv().await {
            let mut open = batch;
            while open > 0 {
                let frame = stream.next().await.expect("open").expect("a frame");
                match client::classify(&frame) {
                    Reply::Ack => result.changes += 1,
                    Reply::Nack => result.nacks += 1,
                    Reply::Other => continue,
                }
                open -= 1;
            }
            result.latencies.push(at.elapsed());
            window.add_permits(1);
        }
        result.finished = Instant::now();
        result
    };
    let (mut sink, result) = tokio::join!(sender, receiver);
    let _ = sink.close().await;
    result
}

fn classify_answer(frame: &tokio_tungstenite::tungstenite::Message) -> bool {
    matches!(client::classify(frame), Reply::Ack | Reply::Nack)
}
