//! A small Chrome DevTools Protocol client: headless Chromium started as a child process,
//! one WebSocket to it (tungstenite, already a dependency), flat sessions for its tabs.
//!
//! Only what the browser test needs: browser contexts, tabs, navigation and
//! `Runtime.evaluate`. Calls are sequential; events are read and dropped.

use std::cell::{Cell, RefCell};
use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket, stream::MaybeTlsStream};

use super::Step;

/// A headless Chromium process and the DevTools connection to it; killed on drop.
pub(crate) struct Chromium {
    child: Child,
    socket: RefCell<WebSocket<MaybeTlsStream<TcpStream>>>,
    next_id: Cell<u64>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts `binary` headless with a fresh profile and DevTools on `port`.
    pub(crate) fn launch(binary: &std::path::Path, port: u16) -> Step<Chromium> {
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1280,900",
                &format!("--remote-debugging-port={port}"),
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("{} does not start: {error}", binary.display()))?;
        // Chromium prints "DevTools listening on ws://…" on standard error once it is ready.
        let stderr = child.stderr.take().expect("piped");
        let mut url = None;
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            if let Some(found) = line.split("DevTools listening on ").nth(1) {
                url = Some(found.trim().to_owned());
                break;
            }
        }
        let url = url.ok_or("chromium exited without a DevTools address")?;
        let (socket, _) = tungstenite::connect(url.as_str())?;
        Ok(Chromium {
            child,
            socket: RefCell::new(socket),
            next_id: Cell::new(1),
            _profile: profile,
        })
    }

    /// Calls `method` (in the tab of `session`, or on the browser) and returns its result.
    pub(crate) fn call(&self, session: Option<&str>, method: &str, params: Value) -> Step<Value> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let mut request = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            request["sessionId"] = json!(session);
        }
        let mut socket = self.socket.borrow_mut();
        socket.send(Message::text(request.to_string()))?;
        loop {
            let Message::Text(text) = socket.read()? else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text)?;
            if answer["id"] != json!(id) {
                continue; // an event, or nothing we wait for
            }
            if let Some(error) = answer.get("error") {
                return Err(format!("{method}: {error}").into());
            }
            return Ok(answer["result"].clone());
        }
    }

    /// A new browser context (its own cookies and storage, like a second browser profile)
    /// with one blank tab: the tab's session id.
    pub(crate) fn new_context_tab(&self) -> Step<String> {
        let context = self.call(None, "Target.createBrowserContext", json!({}))?;
        let target = self.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": context["browserContextId"]}),
        )?;
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )?;
        attached["sessionId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "Target.attachToTarget gave no session".into())
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
