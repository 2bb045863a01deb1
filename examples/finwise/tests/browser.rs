//! The real FinWise 0.4 frontend in headless Chromium against this server (opt-in).
//!
//! Set `FINWISE_FRONTEND_DIST` to the folder of a built, unchanged FinWise 0.4 frontend (its
//! `dist/`, with `index.html`) and have `chromium` on `PATH` (or `CHROMIUM` naming the
//! binary); without the variable the test prints how to enable it and passes without running.
//! The frontend's build calls its API at `http://localhost:8000`, so the test re-runs itself
//! in a private network namespace (loopback only) where that port is free; without
//! namespaces it needs ports 8000 and 8001 free.
//!
//! Same origin (`--static-dir`, authentication on): register, reload on `/login`, log in,
//! create a tenant, a second browser context of the same user on the deep route
//! `/admin/accounts`, create an account and see it ACKed (the frontend's sync queue empties),
//! the second context receiving it, and a reload on the deep route still showing it. Cross
//! origin (the test serves the same `dist/` on `http://localhost:8001`, the server runs with
//! `--cors-origin http://localhost:8001 --dev-open-access`): the same flow from that origin.

#![allow(
    clippy::print_stdout,
    reason = "an opt-in test reports each step it passes and how to enable it"
)]

mod browser_support;

use browser_support::cdp::Chromium;
use browser_support::servers::{self, Finwise, Place};
use browser_support::{Page, Step, launch};

const TEST: &str = "the_real_frontend_works_in_headless_chromium";
const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const TENANT: &str = "Haushalt";

#[test]
fn the_real_frontend_works_in_headless_chromium() {
    let Some(dist) = servers::frontend_dist() else {
        println!(
            "browser test skipped: set FINWISE_FRONTEND_DIST to the dist/ folder of a built \
             FinWise 0.4 frontend (build it yourself; nothing here fetches it) and have \
             chromium on PATH or CHROMIUM naming it, then run \
             `cargo test -p finwise --test browser -- --nocapture`"
        );
        return;
    };
    match servers::enter_namespace(TEST) {
        Place::RanInNamespace(status) => {
            assert!(
                status.success(),
                "the browser test failed in its namespace: {status}"
            );
            return;
        }
        Place::Here => {}
    }
    let dist = dist.to_string_lossy().into_owned();
    let browser = launch().expect("headless Chromium starts");

    println!("same origin: finwise --static-dir, authentication on");
    let server = Finwise::start(&["--static-dir", &dist]);
    same_origin(&browser, "http://localhost:8000");
    drop(server);

    println!("cross origin: the frontend on http://localhost:8001, finwise --cors-origin");
    servers::serve_other_origin(dist.as_ref());
    let _server = Finwise::start(&[
        "--cors-origin",
        "http://localhost:8001",
        "--dev-open-access",
    ]);
    cross_origin(&browser, "http://localhost:8001");
}

/// Runs one named step, printing whether it passed; a failed step fails the test.
fn step<T>(name: &str, run: impl FnOnce() -> Step<T>) -> T {
    match run() {
        Ok(value) => {
            println!("  ok: {name}");
            value
        }
        Err(error) => panic!("  FAILED: {name}: {error}"),
    }
}

fn same_origin(browser: &Chromium, origin: &str) {
    let page = Page::new(browser, origin).expect("a browser context with a tab");
    step("register at /register", || register(&page));
    step("reload on /login serves the app", || {
        page.open("/login")?;
        page.wait_for(
            "document.querySelector('#username') !== null",
            "the login form",
        )
    });
    step("log in", || log_in(&page));
    step("create a tenant", || create_tenant(&page));

    let other = Page::new(browser, origin).expect("a second browser context with a tab");
    step("second context: log in and choose the tenant", || {
        other.open("/login")?;
        log_in(&other)?;
        choose_tenant(&other)
    });
    step(
        "second context: reload on the deep route /admin/accounts",
        || {
            other.open("/admin/accounts")?;
            other.wait_for_text("Konten verwalten")
        },
    );

    step("create an account and see it ACKed", || {
        create_account(&page, "Girokonto Browsertest")
    });
    step("second context receives the account", || {
        other.wait_for_text("Girokonto Browsertest")
    });
    step("reload on /admin/accounts still shows it", || {
        page.open("/admin/accounts")?;
        page.wait_for_text("Girokonto Browsertest")
    });
}

fn cross_origin(browser: &Chromium, origin: &str) {
    let page = Page::new(browser, origin).expect("a browser context with a tab");
    step("register from the other origin", || register(&page));
    step("log in from the other origin", || log_in(&page));
    step("create a tenant from the other origin", || {
        create_tenant(&page)
    });
    step(
        "create an account from the other origin and see it ACKed",
        || create_account(&page, "Sparkonto Querverweis"),
    );
}

fn register(page: &Page<'_>) -> Step {
    page.open("/register")?;
    page.type_into("#username", USER)?;
    page.type_into("#email", "alice@example.com")?;
    page.type_into("#password", PASSWORD)?;
    page.type_into("#passwordRepeat", PASSWORD)?;
    page.click_text("button", "Account anlegen")?;
    // The frontend sends the registration to the server and then goes to its login page.
    page.wait_for_path("/login")
}

fn log_in(page: &Page<'_>) -> Step {
    page.wait_for(
        "document.querySelector('#username') !== null",
        "the login form",
    )?;
    page.type_into("#username", USER)?;
    page.type_into("#password", PASSWORD)?;
    page.click_text("button", "Einloggen")?;
    page.wait_for_path("/tenant-select")
}

fn create_tenant(page: &Page<'_>) -> Step {
    page.click_text("button", "Neuen Mandanten anlegen")?;
    page.type_into("input[placeholder='Name des Mandanten']", TENANT)?;
    page.click_text("button", "Anlegen")?;
    // The frontend means to choose a user's first tenant at once, but only when its list
    // already holds it right after the creation; otherwise it stays listed to be chosen.
    page.wait_for_text(TENANT)?;
    if page.path()? != "/" {
        choose_tenant(page)?;
    }
    page.wait_for_path("/")?;
    // The frontend seeds a new tenant with default groups and a "Girokonto" account.
    synced(page, "Girokonto")
}

fn choose_tenant(page: &Page<'_>) -> Step {
    page.click_text("span", TENANT)?;
    page.wait_for_path("/")
}

/// Creates an account in the admin view and waits until it is [`synced`].
fn create_account(page: &Page<'_>, name: &str) -> Step {
    page.open("/admin/accounts")?;
    page.click_text("button", "Neues Konto")?;
    page.wait_for(
        "document.querySelector('form select')?.options.length > 0",
        "the account groups in the account form",
    )?;
    page.type_into("#account-name", name)?;
    page.wait_for(
        "(() => { const f = document.querySelector('form'); f.requestSubmit(); return true; })()",
        "the account form",
    )?;
    page.wait_for_text(name)?;
    synced(page, name)
}

/// Waits until the account `name` is stored in the page's IndexedDB and the frontend's sync
/// queue is empty: every change it sent, the account's included, was ACKed by the server.
fn synced(page: &Page<'_>, name: &str) -> Step {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = page.local_state()?;
        let stored = state["accounts"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| n == name));
        let queue = state["queue"].as_array().map_or(0, Vec::len);
        if stored && queue == 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{name:?} is not stored and ACKed within 60 s: {state}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
