//! The todo server: `cargo run -p todo`, then `cargo run -p todo --bin todo-client`.
//!
//! `TODO_ADDR` (default 127.0.0.1:3000), `TODO_DATA` (default ./todo-data) and `TODO_KEYS`
//! (default `alice-key=alice@home,bob-key=bob@home`) configure it.

use std::path::PathBuf;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = todo::ApiKeys::parse(&env("TODO_KEYS", "alice-key=alice@home,bob-key=bob@home"))?;
    let data = PathBuf::from(env("TODO_DATA", "todo-data"));
    let (app, sync) = todo::app(&data, keys).await?;

    let listener = tokio::net::TcpListener::bind(env("TODO_ADDR", "127.0.0.1:3000")).await?;
    eprintln!(
        "todo server on ws://{}/sync/{{list}}",
        listener.local_addr()?
    );
    let shutdown = sync.shutdown_handle();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.shutdown(); // every session hears `status: shutdown` first
        })
        .await?;
    Ok(())
}
