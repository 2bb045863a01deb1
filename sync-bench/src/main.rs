//! `sync-bench`: an end-to-end load benchmark of the sync server.
//!
//! It starts a real `sync_axum::SyncServer` over a `SqliteStore` (WAL, `synchronous = FULL`
//! by default, `TCP_NODELAY`) in a child process, and drives it from this process over
//! loopback WebSockets. See `README.md` for the scenarios and their options:
//!
//! ```sh
//! cargo run --release -p sync-bench -- push --clients 10 --window 32
//! cargo run --release -p sync-bench -- fanout --listeners 10000
//! cargo run --release -p sync-bench -- idle --connections 10000
//! cargo run --release -p sync-bench -- streams --sessions 10000 --rows 100000 --runs 3
//! cargo run --release -p sync-bench -- all --runs 3
//! ```
#![allow(clippy::print_stdout, reason = "a benchmark's output is its figures")]

mod all;
mod client;
mod fanout;
mod heap;
mod idle;
mod proc;
mod push;
mod server;
mod stats;
mod streams;

use clap::{Parser, Subcommand};

/// End-to-end load benchmark of the sync server: a real server over SQLite in a child
/// process, driven over loopback WebSockets.
#[derive(Debug, Parser)]
#[command(name = "sync-bench")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// K clients over T tenants push changes, W messages in flight each.
    Push(push::PushArgs),
    /// One writer, S listeners of one tenant: delivery latency and rate.
    Fanout(fanout::FanoutArgs),
    /// N idle connections: server memory per connection.
    Idle(idle::IdleArgs),
    /// Partial sync: cost and delivery of a change to S sessions of one bucket each, and a
    /// subscription's catch-up, against whole-tenant fan-out and initial load (in process).
    Streams(streams::StreamsArgs),
    /// Every scenario with the issue's parameters, several runs, one summary table.
    All(all::AllArgs),
    /// The server process the scenarios start (internal).
    #[command(hide = true)]
    Serve(server::ServerArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Scenario::Serve(args) = &cli.scenario {
        server::serve(args);
        return;
    }
    let limit = proc::raise_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let placement = match &cli.scenario {
        Scenario::Streams(_) => "server core and sessions in this process, over channels",
        _ => "server in a child process, load generator in this one, both on this machine",
    };
    println!(
        "sync-bench: {} cores, load average {:.2}, open-file limit {limit}; {placement}",
        std::thread::available_parallelism().map_or(0, usize::from),
        proc::load_average(),
    );
    runtime.block_on(async {
        match &cli.scenario {
            Scenario::Push(args) => push::run(args).await.print(args),
            Scenario::Fanout(args) => fanout::run(args).await.print(args),
            Scenario::Idle(args) => idle::run(args).await.print(),
            Scenario::Streams(args) => streams::run(args).await,
            Scenario::All(args) => all::run(args).await,
            Scenario::Serve(_) => {}
        }
    });
    println!("load average at the end {:.2}", proc::load_average());
}
