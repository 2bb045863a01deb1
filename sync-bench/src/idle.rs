//! `idle`: what N idle connections cost the server.
//!
//! The server counts its heap (a counting allocator) and reports its RSS. One connection
//! is opened first, so one-time allocations are not charged per connection; then N more,
//! each of which receives `status: online` and stays idle. The figures are the growth of
//! RSS and of the heap divided by N.

use std::time::Duration;

use crate::client;
use crate::proc;
use crate::server::{Server, ServerArgs};
use crate::stats::number;

/// Options of `idle`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct IdleArgs {
    /// Idle connections (N).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) connections: usize,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// What one `idle` run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdleResult {
    pub(crate) connections: usize,
    /// RSS growth per connection, in bytes.
    pub(crate) rss: f64,
    /// Heap growth per connection, in bytes.
    pub(crate) heap: f64,
}

impl IdleResult {
    pub(crate) fn print(&self) {
        println!("idle: {} idle connections", self.connections);
        println!(
            "  server memory per idle connection: RSS {} bytes ({:.2} KiB), heap {} bytes ({:.2} KiB)",
            number(self.rss, 0),
            self.rss / 1024.0,
            number(self.heap, 0),
            self.heap / 1024.0
        );
    }
}

/// Runs `idle` against a fresh server.
pub(crate) async fn run(args: &IdleArgs) -> IdleResult {
    let limit = proc::raise_file_limit();
    let needed = args.connections as u64 + 64;
    assert!(
        limit >= needed,
        "{} connections need {needed} open files; the limit is {limit} (raise it with ulimit -Hn)",
        args.connections
    );
    let server_args = ServerArgs {
        count_heap: true,
        max_connections: args.server.max_connections.max(args.connections + 1),
        ..args.server.clone()
    };
    let mut server = Server::start(&server_args).await;
    let first = client::connect(&server.address, "idle").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.stats().await;
    let sockets = client::connect_many(&server.address, "idle", args.connections, 64).await;
    server.wait_for_connections(args.connections + 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.stats().await;
    let count = args.connections.max(1) as f64;
    let result = IdleResult {
        connections: args.connections,
        rss: after.usage.rss.saturating_sub(before.usage.rss) as f64 / count,
        heap: (after.heap.unwrap_or(0) - before.heap.unwrap_or(0)) as f64 / count,
    };
    drop(sockets);
    drop(first);
    server.stop().await;
    result
}
