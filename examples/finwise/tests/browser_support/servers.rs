//! What the browser test runs besides Chromium: a private network namespace for it, the
//! `finwise` server on `localhost:8000` (the API address the frontend's build expects) and a
//! second origin that serves the same `dist/`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tower_http::services::{ServeDir, ServeFile};

/// The API address compiled into the FinWise 0.4 frontend (`http://localhost:8000`).
pub(crate) const API_PORT: u16 = 8000;
/// The second origin of the cross-origin run, `http://localhost:8001`.
pub(crate) const OTHER_PORT: u16 = 8001;
/// Chromium's DevTools port, away from the two above.
pub(crate) const DEVTOOLS_PORT: u16 = 9222;
/// Set in the environment of the copy of the test that runs inside the namespace.
const INSIDE: &str = "FINWISE_BROWSER_NETNS";

/// Where this process should run the scenario.
pub(crate) enum Place {
    /// Here: inside the private namespace, or (without one) with both ports checked free.
    Here,
    /// A copy of this test ran inside a private network namespace; this is its outcome.
    RanInNamespace(std::process::ExitStatus),
}

/// Re-runs `test` of this binary inside `unshare -n` (as root) or `unshare -rn` (a user
/// namespace), where only a loopback interface exists, so port 8000 is ours whatever runs on
/// the machine and nothing the page loads can leave it. Without namespaces the ports must be
/// free, or this panics saying which one is taken.
pub(crate) fn enter_namespace(test: &str) -> Place {
    if std::env::var_os(INSIDE).is_some() {
        return Place::Here;
    }
    for flags in ["-n", "-rn"] {
        let works = Command::new("unshare")
            .args([flags, "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !works {
            continue;
        }
        let exe = std::env::current_exe().expect("the test binary's path");
        let status = Command::new("unshare")
            .args([
                flags,
                "--",
                "sh",
                "-c",
                r#"ip link set lo up && exec "$0" "$@""#,
            ])
            .arg(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(INSIDE, "1")
            .status()
            .expect("unshare runs");
        return Place::RanInNamespace(status);
    }
    println!("no network namespace (unshare -n / -rn refused): running on this machine's loopback");
    for port in [API_PORT, OTHER_PORT] {
        if let Err(error) = TcpListener::bind(("127.0.0.1", port)) {
            panic!(
                "port {port} on 127.0.0.1 is taken ({error}); the frontend's build calls its API \
                 at http://localhost:{API_PORT}, so the browser test needs ports {API_PORT} and \
                 {OTHER_PORT} free (or `unshare` and `ip` to run in its own network namespace)"
            );
        }
    }
    Place::Here
}

/// A `finwise` process on 127.0.0.1:8000, killed on drop.
pub(crate) struct Finwise {
    child: Child,
    _data: tempfile::TempDir,
}

impl Finwise {
    /// Starts `finwise --bind 127.0.0.1:8000 --data-dir <fresh> ARGS…` and waits until it listens.
    pub(crate) fn start(args: &[&str]) -> Finwise {
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_finwise"));
        command
            .args(["--bind", &format!("127.0.0.1:{API_PORT}"), "--data-dir"])
            .arg(data.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        for variable in ["DATABASE_URL", "FINWISE_JWT_SECRET", "FINWISE_STATIC_DIR"] {
            command.env_remove(variable);
        }
        let mut child = command.spawn().expect("the finwise binary starts");
        let address = SocketAddr::from(([127, 0, 0, 1], API_PORT));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(address).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("finwise exited before listening on {address}: {status}");
            }
            assert!(Instant::now() < deadline, "finwise listens within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Finwise { child, _data: data }
    }
}

impl Drop for Finwise {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `dist` on `http://localhost:8001` (index.html for every unknown path, as a
/// frontend's own server does) on a thread of its own until the process ends.
pub(crate) fn serve_other_origin(dist: &Path) {
    let dist = dist.to_path_buf();
    let listener = TcpListener::bind(("127.0.0.1", OTHER_PORT)).expect("port 8001 is free");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let site = ServeDir::new(&dist).fallback(ServeFile::new(dist.join("index.html")));
            let router = axum::Router::new().fallback_service(site);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
}

/// The built frontend's folder from `FINWISE_FRONTEND_DIST`, checked to hold `index.html`.
pub(crate) fn frontend_dist() -> Option<PathBuf> {
    let dist = PathBuf::from(std::env::var_os("FINWISE_FRONTEND_DIST")?);
    assert!(
        dist.join("index.html").is_file(),
        "FINWISE_FRONTEND_DIST={} has no index.html: set it to the built frontend's dist/ folder",
        dist.display()
    );
    Some(dist)
}
