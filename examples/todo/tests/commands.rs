//! The example's two commands, run as a user runs them: the server binary, then the client
//! binary against it; and the server's own authentication tried with wrong keys.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the server when the test ends, whether it passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `todo-server` on a free port and returns it with its sync URL (from its log line).
fn start_server(data: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_todo-server"))
        .env("TODO_ADDR", "127.0.0.1:0")
        .env("TODO_DATA", data)
        .stderr(Stdio::piped())
        .spawn()
        .expect("todo-server starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("todo-server logs its address");
    let url = line
        .trim()
        .strip_prefix("todo server on ")
        .and_then(|url| url.strip_suffix("/{list}"))
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (Server(child), url)
}

#[test]
fn the_client_command_converges_two_replicas_through_the_server_command() {
    let data = tempfile::tempdir().unwrap();
    let (_server, url) = start_server(data.path());
    let output = Command::new(env!("CARGO_BIN_EXE_todo-client"))
        .env("TODO_URL", &url)
        .output()
        .expect("todo-client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout, "alice sees: [x] Buy milk\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_refuses_unknown_keys_and_other_lists() {
    let data = tempfile::tempdir().unwrap();
    let keys = todo::ApiKeys::parse("alice-key=alice@home").unwrap();
    let (app, _sync) = todo::app(data.path(), keys).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());

    assert_eq!(status_of(address, "home", None).await, 401, "no key");
    assert_eq!(
        status_of(address, "home", Some("mallory-key")).await,
        401,
        "unknown key"
    );
    assert_eq!(
        status_of(address, "work", Some("alice-key")).await,
        403,
        "another list"
    );
    assert_eq!(
        status_of(address, "home", Some("alice-key")).await,
        101,
        "her own list"
    );
}

/// The HTTP status of a WebSocket upgrade of `/sync/{list}`, written by hand so that the
/// test sees exactly what a browser or attacker would.
async fn status_of(address: std::net::SocketAddr, list: &str, key: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let authorization = key
        .map(|key| format!("Authorization: Bearer {key}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /sync/{list} HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{authorization}\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    socket.read_exact(&mut head).await.unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}
