//! Two replicas of the list `home` converging through a running todo server:
//! `cargo run -p todo --bin todo-client` (`TODO_URL`, default ws://127.0.0.1:3000/sync).

#![allow(clippy::print_stdout)] // a command-line program: its result goes to stdout

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TODO_URL").unwrap_or_else(|_| "ws://127.0.0.1:3000/sync".into());
    let replicas = std::env::temp_dir().join(format!("todo-replicas-{}", std::process::id()));
    std::fs::create_dir_all(&replicas)?;
    let seen = todo::two_replicas(&url, &replicas).await;
    std::fs::remove_dir_all(&replicas)?;
    for item in seen? {
        println!(
            "alice sees: [{}] {}",
            if item.done { "x" } else { " " },
            item.title
        );
    }
    Ok(())
}
