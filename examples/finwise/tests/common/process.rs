//! The `finwise` server as a real process (`CARGO_BIN_EXE_finwise`): started on
//! 127.0.0.1:0 until it listens, or run until it exits.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::Endpoint;

/// `finwise --bind 127.0.0.1:0 --data-dir DATA ARGS…`, with none of its settings taken
/// from the test's environment, logging without colours.
fn command(data: &Path, args: &[String]) -> Command {
    command_limited(None, data, args)
}

/// [`command`], under an open-file limit of `fds` (soft and hard) when given, set by
/// util-linux's `prlimit` on the child alone.
fn command_limited(fds: Option<u64>, data: &Path, args: &[String]) -> Command {
    let mut command = match fds {
        None => Command::new(env!("CARGO_BIN_EXE_finwise")),
        Some(fds) => {
            let mut command = Command::new("prlimit");
            command
                .arg(format!("--nofile={fds}:{fds}"))
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_finwise"));
            command
        }
    };
    command
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for variable in [
        "DATABASE_URL",
        "FINWISE_BUS_URL",
        "FINWISE_DATABASE_SCHEMA",
        "FINWISE_DATABASE_CONNECTIONS",
        "FINWISE_JWT_SECRET",
        "FINWISE_BIND",
        "FINWISE_DATA_DIR",
    ] {
        command.env_remove(variable);
    }
    command
}

/// Runs `finwise ARGS…` until it exits (within 60 s): its exit status and everything it
/// printed (standard output then standard error).
pub(crate) async fn exit_of(args: &[String]) -> (std::process::ExitStatus, String) {
    let data = tempfile::tempdir().unwrap();
    let child = command(data.path(), args).spawn().unwrap();
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("finwise exits within 60 s")
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, printed)
}

/// A `finwise` process: a node that can be killed.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// The data directory it owns, if [`spawn`] made one (none for [`spawn_in`]).
    _data: Option<tempfile::TempDir>,
}

impl Endpoint for Process {
    fn base(&self) -> &str {
        &self.url
    }
}

/// Starts `finwise` on 127.0.0.1:0 with `args` in a fresh data directory, and waits until
/// it listens.
pub(crate) async fn spawn(args: &[String]) -> Process {
    let data = tempfile::tempdir().unwrap();
    let mut process = spawn_in(data.path(), args).await;
    process._data = Some(data);
    process
}

/// Starts `finwise` on 127.0.0.1:0 with `args` on the data directory `data` (which the
/// caller keeps, e.g. to restart a killed process on it), and waits until it listens.
pub(crate) async fn spawn_in(data: &Path, args: &[String]) -> Process {
    start(command(data, args)).await
}

/// [`spawn`] under an open-file limit of `fds` (needs util-linux's `prlimit`).
pub(crate) async fn spawn_with_fd_limit(fds: u64, args: &[String]) -> Process {
    let data = tempfile::tempdir().unwrap();
    let mut process = start(command_limited(Some(fds), data.path(), args)).await;
    process._data = Some(data);
    process
}

async fn start(mut command: Command) -> Process {
    let mut child = command
        .spawn()
        .expect("cannot start finwise (or prlimit, from util-linux, for a lowered fd limit)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("address=") {
                let rest = &line[at + "address=".len()..];
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
            .await
            .unwrap();
        panic!("finwise exited before listening: {stderr}");
    })
    .await
    .expect("finwise listens within 30 s");
    // Keep reading its log, so the pipe never fills; FINWISE_TEST_LOG=1 shows it.
    let show = std::env::var_os("FINWISE_TEST_LOG").is_some();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if show {
                eprintln!("finwise: {line}");
            }
        }
    });
    Process {
        child,
        url: format!("http://{address}"),
        _data: None,
    }
}
