//! `fanout`: one writer and S listening sessions of one tenant.
//!
//! Two phases. **Paced**: the writer sends `changes` changes `interval_ms` apart, each after
//! the previous ACK; for each, the time from its send until the *last* listener has its
//! `data_update` is one sample. **Burst**: the writer sends `burst` changes back to back
//! (the server's in-flight bound and TCP pace it); delivered messages per second are the
//! listeners' deliveries over the time from the first send to the last delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Reply, Socket};
use crate::proc;
use crate::server::{Server, ServerArgs};
use crate::stats::{Latencies, Summary, number};

/// Options of `fanout`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FanoutArgs {
    /// Listening sessions of the tenant (S).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) listeners: usize,
    /// Changes of the paced phase.
    #[arg(long, default_value_t = 50)]
    pub(crate) changes: usize,
    /// Milliseconds between the paced changes.
    #[arg(long, default_value_t = 50)]
    pub(crate) interval_ms: u64,
    /// Changes of the burst phase (at most the server's outbound queue, 1024, or listeners
    /// fall behind and are closed).
    #[arg(long, default_value_t = 100)]
    pub(crate) burst: usize,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// What one `fanout` run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct FanoutResult {
    pub(crate) listeners: usize,
    /// Send to last delivery, paced phase.
    pub(crate) to_last: Summary,
    /// Deliveries per second, burst phase.
    pub(crate) delivered_per_second: f64,
    /// Server CPU microseconds per delivered message, burst phase.
    pub(crate) server_cpu_per_delivery: f64,
    /// Load generator CPU microseconds per delivered message, burst phase.
    pub(crate) client_cpu_per_delivery: f64,
}

impl FanoutResult {
    pub(crate) fn print(&self, args: &FanoutArgs) {
        println!(
            "fanout: 1 writer, {} listeners of one tenant, {:?}",
            self.listeners, args.server.synchronous
        );
        println!(
            "  paced ({} changes, {} ms apart): send to last delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            args.changes, args.interval_ms, self.to_last.p50, self.to_last.p99, self.to_last.max
        );
        println!(
            "  burst ({} changes back to back): {} delivered messages/s",
            args.burst,
            number(self.delivered_per_second, 0)
        );
        println!(
            "  CPU per delivered message: server {:.2} µs, load generator {:.2} µs (separate processes)",
            self.server_cpu_per_delivery, self.client_cpu_per_delivery
        );
    }
}

/// When each change reached how many listeners, the last of them at what time.
struct Arrivals {
    base: Instant,
    count: Vec<AtomicU32>,
    last_ns: Vec<AtomicU64>,
}

impl Arrivals {
    fn record(&self, index: usize) {
        let Some(count) = self.count.get(index) else {
            return;
        };
        let now = self.base.elapsed().as_nanos() as u64;
        self.last_ns[index].fetch_max(now, Ordering::Relaxed);
        count.fetch_add(1, Ordering::Release);
    }

    async fn wait_for(&self, index: usize, listeners: usize) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        while (self.count[index].load(Ordering::Acquire) as usize) < listeners {
            assert!(
                Instant::now() < deadline,
                "change {index} reached {} of {listeners} listeners in 60 s",
                self.count[index].load(Ordering::Acquire)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.base + Duration::from_nanos(self.last_ns[index].load(Ordering::Relaxed))
    }
}

/// The change index in a `data_update` of entity `fo-<index>`.
fn index_of(message: &Message) -> Option<usize> {
    let Message::Text(text) = message else {
        return None;
    };
    let at = text.find("\"fo-")? + 4;
    let digits = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Runs `fanout` against a fresh server.
pub(crate) async fn run(args: &FanoutArgs) -> FanoutResult {
    let mut server = Server::start(&args.server).await;
    let result = measure(&mut server, args).await;
    server.stop().await;
    result
}

async fn measure(server: &mut Server, args: &FanoutArgs) -> FanoutResult {
    let tenant = "fanout";
    let total = args.changes + args.burst;
    let arrivals = Arc::new(Arrivals {
        base: Instant::now(),
        count: (0..total).map(|_| AtomicU32::new(0)).collect(),
        last_ns: (0..total).map(|_| AtomicU64::new(0)).collect(),
    });
    let mut writer = client::connect(&server.address, tenant).await;
    // Unmeasured: the first change opens the tenant's database.
    send_and_wait(&mut writer, "warm", tenant).await;
    let listeners = client::connect_many(&server.address, tenant, args.listeners, 64).await;
    server.wait_for_connections(args.listeners + 1).await;
    let tasks: Vec<_> = listeners
        .into_iter()
        .map(|mut socket| {
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                while let Some(Ok(frame)) = socket.next().await {
                    if let Some(index) = index_of(&frame) {
                        arrivals.record(index);
                    }
                }
            })
        })
        .collect();

    let mut to_last = Latencies::default();
    for index in 0..args.changes {
        let sent = Instant::now();
        send_and_wait(&mut writer, &format!("fo-{index}"), tenant).await;
        let last = arrivals.wait_for(index, args.listeners).await;
        to_last.push(last.saturating_duration_since(sent));
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }

    let (server_before, client_before) = (server.stats().await.usage, proc::usage());
    let first_sent = Instant::now();
    let (mut sink, mut stream) = writer.split();
    let burst = args.changes..total;
    let sender = async {
        for index in burst.clone() {
            let id = format!("fo-{index}");
            sink.feed(client::single(&client::entry(&id, tenant, &id)))
                .await
                .expect("send");
        }
        sink.flush().await.expect("flush");
    };
    let acks = async {
        let mut acked = 0;
        while acked < args.burst {
            let frame = stream.next().await.expect("open").expect("a frame");
            if client::classify(&frame) == Reply::Ack {
                acked += 1;
            }
        }
    };
    tokio::join!(sender, acks);
    let mut last = first_sent;
    for index in burst {
        last = last.max(arrivals.wait_for(index, args.listeners).await);
    }
    let (server_after, client_after) = (server.stats().await.usage, proc::usage());
    let deliveries = (args.burst * args.listeners) as f64;
    let per_delivery =
        |before: u64, after: u64| after.saturating_sub(before) as f64 / 1e3 / deliveries.max(1.0);
    for task in tasks {
        task.abort();
    }
    FanoutResult {
        listeners: args.listeners,
        to_last: to_last.summary(),
        delivered_per_second: deliveries / last.duration_since(first_sent).as_secs_f64(),
        server_cpu_per_delivery: per_delivery(server_before.cpu_ns, server_after.cpu_ns),
        client_cpu_per_delivery: per_delivery(client_before.cpu_ns, client_after.cpu_ns),
    }
}

async fn send_and_wait(socket: &mut Socket, id: &str, tenant: &str) {
    socket
        .send(client::single(&client::entry(id, tenant, id)))
        .await
        .expect("send");
    loop {
        let frame = socket.next().await.expect("open").expect("a frame");
        if client::classify(&frame) != Reply::Other {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_index_is_read_from_the_entity_id() {
        let update = Message::text(
            r#"{"cursor":3,"data":{"single_entity":{"id":"fo-42","name":"x"}},"entity_id":"fo-42"}"#,
        );
        assert_eq!(index_of(&update), Some(42));
        assert_eq!(index_of(&Message::text(r#"{"type":"ping"}"#)), None);
    }
}
