//! The server under test: a `SyncServer` over a `SqliteStore` in a temporary directory, run
//! in a child process so that its CPU time and memory are measured apart from the load
//! generator's.
//!
//! The parent starts `sync-bench serve …`, reads the address from the child's first line,
//! and asks for [`Stats`] by writing `stats` to the child's stdin. The child ends when its
//! stdin closes.

use std::process::Stdio;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_axum::auth::OpenAccess;
use sync_axum::{Limits, SyncServer};
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Registry, Syncable};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::heap;
use crate::proc::{self, Usage};

/// The entity every scenario writes: five columns, like the store benchmark's.
#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
pub(crate) struct Account {
    #[sync(id)]
    id: String,
    name: String,
    balance: f64,
    currency: String,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

/// How the child server is configured.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// SQLite's `synchronous` level: off, normal or full.
    #[arg(long, default_value = "full", value_parser = parse_synchronous)]
    pub(crate) synchronous: Synchronous,
    /// The server's `Limits::max_in_flight` (changes in flight per connection).
    #[arg(long, default_value_t = Limits::default().session.max_in_flight)]
    pub(crate) max_in_flight: usize,
    /// The server's `Limits::max_connections`.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) max_connections: usize,
    /// The server's `Limits::read_buffer_bytes`.
    #[arg(long, default_value_t = Limits::default().read_buffer_bytes)]
    pub(crate) read_buffer_bytes: usize,
    /// Count the server's heap (a counting allocator; costs a little CPU per allocation).
    #[arg(long)]
    pub(crate) count_heap: bool,
}

pub(crate) fn parse_synchronous(level: &str) -> Result<Synchronous, String> {
    match level {
        "off" => Ok(Synchronous::Off),
        "normal" => Ok(Synchronous::Normal),
        "full" => Ok(Synchronous::Full),
        other => Err(format!("`{other}`: expected off, normal or full")),
    }
}

impl ServerArgs {
    fn to_args(&self) -> Vec<String> {
        let synchronous = match self.synchronous {
            Synchronous::Off => "off",
            Synchronous::Normal => "normal",
            _ => "full",
        };
        let mut args = vec![
            "serve".to_owned(),
            format!("--synchronous={synchronous}"),
            format!("--max-in-flight={}", self.max_in_flight),
            format!("--max-connections={}", self.max_connections),
            format!("--read-buffer-bytes={}", self.read_buffer_bytes),
        ];
        if self.count_heap {
            args.push("--count-heap".to_owned());
        }
        args
    }
}

/// What the child reports about itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) usage: Usage,
    /// Heap bytes allocated since counting began, when the child counts them.
    pub(crate) heap: Option<i64>,
    pub(crate) connections: usize,
}

/// The child process, from the parent's side.
pub(crate) struct Server {
    pub(crate) address: String,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Server {
    /// Starts the child and waits until it listens. `SYNC_BENCH_SERVER_PREFIX` (split on
    /// whitespace) runs it under another program, e.g. `valgrind --tool=callgrind`.
    pub(crate) async fn start(args: &ServerArgs) -> Server {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        let prefix = std::env::var("SYNC_BENCH_SERVER_PREFIX").unwrap_or_default();
        let mut words = prefix.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(args.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server process");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let address = stdout
            .next_line()
            .await
            .expect("read the server's address")
            .expect("the server prints its address");
        Server {
            address,
            child,
            stdin,
            stdout,
        }
    }

    /// The child's CPU time, memory and connection count now.
    pub(crate) async fn stats(&mut self) -> Stats {
        self.stdin
            .write_all(b"stats\n")
            .await
            .expect("ask the server");
        let line = self
            .stdout
            .next_line()
            .await
            .expect("read the server's stats")
            .expect("the server answers");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [cpu_ns, rss, heap, connections] = fields[..] else {
            panic!("unexpected stats line from the server: {line}");
        };
        let number = |field: &str| field.parse::<u64>().expect("a number");
        Stats {
            usage: Usage {
                cpu_ns: number(cpu_ns),
                rss: number(rss),
            },
            heap: heap.parse().ok(),
            connections: number(connections) as usize,
        }
    }

    /// Waits until the server counts `count` open connections.
    pub(crate) async fn wait_for_connections(&mut self, count: usize) -> Stats {
        loop {
            let stats = self.stats().await;
            if stats.connections >= count {
                return stats;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Ends the child.
    pub(crate) async fn stop(mut self) {
        drop(self.stdin);
        let _ = self.child.wait().await;
    }
}

/// The child's `main`: serves until stdin closes.
pub(crate) fn serve(args: &ServerArgs) {
    proc::raise_file_limit();
    heap::count(args.count_heap);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let registry = Registry::builder()
            .entity::<Account>()
            .build()
            .expect("the registry");
        let store = SqliteStore::builder(dir.path(), registry)
            .synchronous(args.synchronous)
            .open()
            .await
            .expect("open the store");
        let mut limits = Limits {
            max_connections: args.max_connections,
            read_buffer_bytes: args.read_buffer_bytes,
            ..Limits::default()
        };
        limits.session.max_in_flight = args.max_in_flight;
        let server = SyncServer::builder(store, OpenAccess)
            .limits(limits)
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let router = server.router();
        let address = listener.local_addr().expect("the bound address");
        tokio::spawn(axum::serve(sync_axum::no_delay(listener), router).into_future());
        let mut out = tokio::io::stdout();
        out.write_all(format!("{address}\n").as_bytes())
            .await
            .expect("report the address");
        out.flush().await.expect("report the address");
        let mut commands = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(command)) = commands.next_line().await {
            if command.trim() != "stats" {
                continue;
            }
            let usage = proc::usage();
            let heap = heap::allocated().map_or_else(|| "none".to_owned(), |heap| heap.to_string());
            let line = format!(
                "{} {} {heap} {}\n",
                usage.cpu_ns,
                usage.rss,
                server.connections()
            );
            out.write_all(line.as_bytes()).await.expect("report stats");
            out.flush().await.expect("report stats");
        }
        drop(dir);
    });
}
