//! Support for `tests/browser.rs`: headless Chromium driven over the DevTools protocol
//! ([`cdp`]), one [`Page`] per browser tab, and the servers around it ([`servers`]).

pub(crate) mod cdp;
pub(crate) mod servers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use cdp::Chromium;

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

/// Launches headless Chromium with its DevTools on a fixed port, away from the server's.
pub(crate) fn launch() -> Step<Chromium> {
    Chromium::launch(&chromium(), servers::DEVTOOLS_PORT)
}

/// One tab, in a browser context of its own, showing the frontend at `origin`
/// (e.g. `http://localhost:8000`).
pub(crate) struct Page<'a> {
    browser: &'a Chromium,
    session: String,
    origin: String,
}

impl<'a> Page<'a> {
    /// A new browser context (own cookies and storage) with one tab.
    pub(crate) fn new(browser: &'a Chromium, origin: &str) -> Step<Page<'a>> {
        Ok(Page {
            browser,
            session: browser.new_context_tab()?,
            origin: origin.to_owned(),
        })
    }

    fn call(&self, method: &str, params: Value) -> Step<Value> {
        self.browser.call(Some(&self.session), method, params)
    }

    /// Evaluates `script` (awaited if it is a promise) to its JSON value.
    fn eval(&self, script: &str) -> Step<Value> {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": script, "awaitPromise": true, "returnByValue": true}),
        )?;
        if let Some(exception) = answer.get("exceptionDetails") {
            return Err(format!("{script}: {exception}").into());
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Loads `path` as a full page load (what a reload or a typed address does).
    pub(crate) fn open(&self, path: &str) -> Step {
        let url = format!("{}{path}", self.origin);
        let answer = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(error) = answer.get("errorText") {
            return Err(format!("loading {url}: {error}").into());
        }
        self.wait_for("document.readyState === 'complete'", "the page load")
    }

    /// The current path (`location.pathname`).
    pub(crate) fn path(&self) -> Step<String> {
        self.eval_string("location.pathname")
    }

    /// Enters `text` into the field `selector` as typing does: its value, then an `input`
    /// event (what the frontend's `v-model` listens to). Keyboard input would reach only the
    /// tab in front, and the test keeps two open.
    pub(crate) fn type_into(&self, selector: &str, text: &str) -> Step {
        self.wait_for(
            &format!(
                "(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; \
                 e.focus(); e.value = {text:?}; \
                 e.dispatchEvent(new Event('input', {{ bubbles: true }})); return true; }})()"
            ),
            &format!("the field {selector}"),
        )
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
            // While a page loads its context can vanish: that answer counts as "not yet".
            let value = self.eval(script).unwrap_or(Value::Null);
            if value == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let body = self.eval_string("document.body.innerText.slice(0, 600)")?;
                return Err(format!(
                    "waited {WAIT:?} for {what} at {}; last answer {value}; the page reads: {body}",
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
        match self.eval(script)? {
            Value::String(text) => Ok(text),
            other => Err(format!("{script} gave {other:?}, not a string").into()),
        }
    }

    /// The frontend's own record of one tenant's data in IndexedDB
    /// (`finwiseTenantDB_<tenant>`): the account names and the sync queue, whose entries the
    /// frontend deletes when the server ACKs them. JSON: `{"accounts": [...], "queue": [...]}`.
    pub(crate) fn local_state(&self) -> Step<Value> {
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
