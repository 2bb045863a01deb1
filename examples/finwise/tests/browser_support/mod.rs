//! Support for `tests/browser.rs`: headless Chromium driven over the DevTools protocol
//! (headless_chrome), one [`Page`] per browser tab, and the servers around it
//! ([`servers`]).

pub(crate) mod servers;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headless_chrome::{Browser, LaunchOptions, Tab};

/// What a step of the scenario returns: any driver or page error, with its message.
pub(crate) type Step<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long one wait for the page may take before the step fails.
const WAIT: Duration = Duration::from_secs(60);

/// The Chromium binary: `CHROMIUM`, or `chromium` on `PATH`.
pub(crate) fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .expect("chromium is on PATH (or CHROMIUM names the binary)")
}

/// Launches headless Chromium (without its sandbox, which needs privileges a test does not
/// have). Its DevTools port is fixed: the driver would otherwise pick one at random from
/// 8000-8999, which may be the port the server needs.
pub(crate) fn launch() -> Step<Browser> {
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .port(Some(servers::DEVTOOLS_PORT))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1280, 900)))
        .idle_browser_timeout(Duration::from_secs(600))
        .args(vec![OsStr::new("--disable-dev-shm-usage")])
        .build()?;
    Ok(Browser::new(options)?)
}

/// One tab showing the frontend at `origin` (e.g. `http://localhost:8000`).
pub(crate) struct Page {
    tab: Arc<Tab>,
    origin: String,
}

impl Page {
    pub(crate) fn new(tab: Arc<Tab>, origin: &str) -> Page {
        tab.set_default_timeout(WAIT);
        Page {
            tab,
            origin: origin.to_owned(),
        }
    }

    /// Loads `path` as a full page load (what a reload or a typed address does).
    pub(crate) fn open(&self, path: &str) -> Step {
        self.tab
            .navigate_to(&format!("{}{path}", self.origin))?
            .wait_until_navigated()?;
        Ok(())
    }

    /// The current path (`location.pathname`).
    pub(crate) fn path(&self) -> Step<String> {
        self.eval_string("location.pathname")
    }

    /// Types `text` into the element `selector` after clicking it.
    pub(crate) fn type_into(&self, selector: &str, text: &str) -> Step {
        self.tab.wait_for_element(selector)?.click()?;
        self.tab.type_str(text)?;
        Ok(())
    }

    /// Clicks the first `selector` element whose text contains `text`, waiting for it.
    pub(crate) fn click_text(&self, selector: &str, text: &str) -> Step {
        let script = format!(
            "(() => {{ const e = [...document.querySelectorAll({selector:?})]\
             .find(e => e.innerText.includes({text:?})); if (e) {{ e.click(); return true; }} \
             return false; }})()"
        );
        self.wait_for(&script, &format!("a {selector} reading {text:?}"))
    }

    /// Evaluates `script` (an expression, awaited if it is a promise) until it is `true`.
    pub(crate) fn wait_for(&self, script: &str, what: &str) -> Step {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.tab.evaluate(script, true)?.value;
            if value == Some(serde_json::Value::Bool(true)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let body = self.eval_string("document.body.innerText.slice(0, 600)")?;
                return Err(format!(
                    "waited {WAIT:?} for {what} at {}; last answer {value:?}; the page reads: {body}",
                    self.path()?
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until the page's path is `path`.
    pub(crate) fn wait_for_path(&self, path: &str) -> Step {
        self.wait_for(
            &format!("location.pathname === {path:?}"),
            &format!("the path {path}"),
        )
    }

    /// Waits until the page's text contains `text`.
    pub(crate) fn wait_for_text(&self, text: &str) -> Step {
        self.wait_for(
            &format!("document.body.innerText.includes({text:?})"),
            &format!("the text {text:?}"),
        )
    }

    /// Evaluates `script` to a string.
    pub(crate) fn eval_string(&self, script: &str) -> Step<String> {
        match self.tab.evaluate(script, true)?.value {
            Some(serde_json::Value::String(text)) => Ok(text),
            other => Err(format!("{script} gave {other:?}, not a string").into()),
        }
    }

    /// The frontend's own record of one tenant's data in IndexedDB
    /// (`finwiseTenantDB_<tenant>`): the account names and the sync queue, whose entries the
    /// frontend deletes when the server ACKs them. JSON: `{"accounts": [...], "queue": [...]}`.
    pub(crate) fn local_state(&self) -> Step<serde_json::Value> {
        let json = self.eval_string(LOCAL_STATE)?;
        Ok(serde_json::from_str(&json)?)
    }
}

/// Reads every `finwiseTenantDB_*` database of the page's origin into one JSON object.
const LOCAL_STATE: &str = r#"(async () => {
  const state = { accounts: [], queue: [] };
  for (const info of await indexedDB.databases()) {
    if (!info.name.startsWith('finwiseTenantDB_')) continue;
    const db = await new Promise((ok, fail) => {
      const open = indexedDB.open(info.name);
      open.onsuccess = () => ok(open.result);
      open.onerror = () => fail(open.error);
    });
    const tx = db.transaction(['accounts', 'syncQueue'], 'readonly');
    const all = (store) => new Promise((ok) => {
      const request = tx.objectStore(store).getAll();
      request.onsuccess = () => ok(request.result);
    });
    state.accounts.push(...(await all('accounts')).map((a) => a.name));
    state.queue.push(...(await all('syncQueue')).map((e) => `${e.entityType} ${e.operationType} ${e.status}`));
    db.close();
  }
  return JSON.stringify(state);
})()"#;
