//! What an idle WebSocket connection costs the server, in heap bytes.
//!
//! `cargo bench -p sync-axum --bench idle_connections` starts the server in a child process
//! (so the clients' memory is not counted), opens 500 connections that each receive
//! `status: online` and then stay idle, and prints the server's heap growth per connection,
//! once with the crate's default read buffer (4 KiB) and once with the WebSocket library's
//! default (128 KiB). The server counts its heap with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use sync_axum::auth::OpenAccess;
use sync_axum::{Limits, SyncServer};
use sync_core::Registry;
use sync_core::store::sqlite::SqliteStore;

struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers to the system allocator and only counts the sizes it hands out.
#[allow(unsafe_code, reason = "a counting allocator wraps the system one")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `pointer` came from `alloc` with this layout.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONNECTIONS: usize = 500;

/// The child: serves until stdin closes; answers each line on stdin with its heap size.
#[allow(
    clippy::print_stdout,
    reason = "the child reports to its parent on stdout"
)]
async fn serve(read_buffer_bytes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path(), Registry::default())
        .open()
        .await
        .unwrap();
    let limits = Limits {
        read_buffer_bytes,
        ..Limits::default()
    };
    let server = SyncServer::builder(store, OpenAccess)
        .limits(limits)
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, server.router()).into_future());
    let lines = tokio::task::spawn_blocking(|| {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            println!("{}", ALLOCATED.load(Ordering::Relaxed));
        }
    });
    let _ = lines.await;
}

/// The parent: the server's heap before and after `CONNECTIONS` idle connections.
async fn measure(read_buffer_bytes: usize) -> f64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["serve", &read_buffer_bytes.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = output.next().unwrap().unwrap();
    let mut heap = move || {
        writeln!(input, "?").unwrap();
        output.next().unwrap().unwrap().parse::<isize>().unwrap()
    };

    // One connection first, so one-time allocations are not counted per connection.
    let mut sockets = Vec::new();
    let url = format!("ws://{address}/ws/tenant");
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    first.next().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = heap();
    for _ in 0..CONNECTIONS {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        socket.next().await.unwrap().unwrap();
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = heap();
    drop(sockets);
    let _ = child.kill();
    let _ = child.wait();
    (after - before) as f64 / CONNECTIONS as f64
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let buffer = args[2].parse().unwrap();
        runtime.block_on(serve(buffer));
        return;
    }
    runtime.block_on(async {
        println!("server heap per idle WebSocket connection, {CONNECTIONS} connections");
        println!("{:>12} {:>18}", "read buffer", "bytes/connection");
        for buffer in [Limits::default().read_buffer_bytes, 128 << 10] {
            let per_connection = measure(buffer).await;
            println!("{:>9} KiB {per_connection:>18.0}", buffer >> 10);
        }
    });
}
