//! `finwise-cli` end to end: the real binary, a fresh profile per "device", against a
//! server on 127.0.0.1:0 (and a closed port for offline).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Server, start};
use finwise::entities::{Account, AccountGroup, Transaction};
use sync_core::TenantId;
use sync_core::change::Change;
use sync_core::store::{Store as _, StoreExt as _};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, Command};

/// How long a line the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(15);

/// One installation of the CLI: its own profile directory.
struct Device {
    profile: tempfile::TempDir,
}

/// What a run printed, and whether it succeeded.
#[derive(Debug)]
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Standard output of a run that must have succeeded.
    #[track_caller]
    fn ok(self) -> String {
        assert!(self.success, "the command failed: {self:#?}");
        self.stdout
    }

    /// Standard error of a run that must have failed with status 1.
    #[track_caller]
    fn failed(self) -> String {
        assert_eq!(self.code, Some(1), "the command did not fail: {self:#?}");
        self.stderr
    }
}

impl Device {
    fn new() -> Device {
        Device {
            profile: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, server: &str, args: &[&str]) -> Command {
        command(server, Some(self.profile.path()), args)
    }

    /// Runs `finwise-cli --server SERVER --profile P ARGS…` to its end.
    async fn run(&self, server: &str, args: &[&str]) -> Run {
        run(self.command(server, args)).await
    }

    /// Registers and logs in `name` (password `secret-NAME`).
    async fn sign_up(&self, server: &Server, name: &str) {
        let email = format!("{name}@example.com");
        let password = format!("secret-{name}");
        self.run(
            &server.url,
            &[
                "register",
                "--name",
                name,
                "--email",
                &email,
                "--password",
                &password,
            ],
        )
        .await
        .ok();
        self.log_in(server, name).await;
    }

    async fn log_in(&self, server: &Server, name: &str) {
        let password = format!("secret-{name}");
        let out = self
            .run(&server.url, &["login", name, "--password", &password])
            .await
            .ok();
        assert!(out.starts_with(&format!("logged in as {name} ")), "{out}");
    }

    /// Creates a tenant and makes it the current one; its id.
    async fn new_tenant(&self, server: &Server, name: &str) -> String {
        let out = self
            .run(&server.url, &["tenant", "create", name])
            .await
            .ok();
        let id = id_in(&out);
        // By name: resolved through the server's list.
        let out = self.run(&server.url, &["tenant", "use", name]).await.ok();
        assert_eq!(out, format!("now using tenant {name} ({id})\n"));
        id
    }
}

fn command(server: &str, profile: Option<&Path>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_finwise-cli"));
    command.arg("--server").arg(server);
    if let Some(profile) = profile {
        command.arg("--profile").arg(profile);
    }
    for variable in [
        "FINWISE_SERVER",
        "FINWISE_PROFILE",
        "FINWISE_PASSWORD",
        "FINWISE_TIMEOUT",
    ] {
        command.env_remove(variable);
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn run(mut command: Command) -> Run {
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the command did not end within 60 s")
        .unwrap();
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The id in the last parentheses of `text`, e.g. `added account Giro (ID)`.
fn id_in(text: &str) -> String {
    let start = text.rfind('(').unwrap() + 1;
    let end = start + text[start..].find(')').unwrap();
    text[start..end].to_owned()
}

/// A server URL nothing listens on.
fn closed_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

async fn server_accounts(server: &Server, tenant: &str) -> Vec<Account> {
    let tenant = TenantId::new(tenant).unwrap();
    let mut accounts = server.state.store.list::<Account>(&tenant).await.unwrap();
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    accounts
}

/// The line of `table` that mentions `needle`.
fn row<'a>(table: &'a str, needle: &str) -> Option<Vec<&'a str>> {
    table
        .lines()
        .find(|line| line.contains(needle))
        .map(|line| line.split_whitespace().collect())
}

#[tokio::test]
async fn register_login_tenant_group_and_accounts_reach_the_server() {
    let server = start().await;
    let device = Device::new();
    device.sign_up(&server, "anna").await;
    let tenant = device.new_tenant(&server, "Household").await;

    let out = device.run(&server.url, &["tenant", "list"]).await.ok();
    assert_eq!(row(&out, &tenant).unwrap(), ["*", &tenant, "Household"]);

    let out = device
        .run(&server.url, &["group", "add", "Banks"])
        .await
        .ok();
    let group = id_in(&out);
    let run = device
        .run(
            &server.url,
            &[
                "account",
                "add",
                "--name",
                "Giro",
                "--group",
                "banks",
                "--type",
                "GIRO",
                "--balance",
                "120.5",
            ],
        )
        .await;
    assert!(run.stderr.contains("synced with the server"), "{run:#?}");
    let giro = id_in(&run.ok());

    let out = device.run(&server.url, &["account", "list"]).await.ok();
    assert_eq!(
        row(&out, &giro).unwrap(),
        [giro.as_str(), "Giro", "giro", "120.50", "Banks"],
        "{out}"
    );
    assert!(out.starts_with("ID "), "{out}");

    // The server holds it, with the defaults filled in.
    let accounts = server_accounts(&server, &tenant).await;
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(
        (account.id.as_str(), account.name.as_str()),
        (giro.as_str(), "Giro")
    );
    assert_eq!(account.account_type, finwise::entities::AccountType::Giro);
    assert_eq!(account.account_group_id, group);
    assert!(account.is_active && !account.is_offline_budget);
    assert!((account.balance - 120.5).abs() < 1e-9);
    let groups = server
        .state
        .store
        .list::<AccountGroup>(&TenantId::new(tenant.as_str()).unwrap())
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].name.as_str(), groups[0].sort_order),
        ("Banks", 0)
    );

    // Edit by id prefix, then delete by name.
    device
        .run(
            &server.url,
            &[
                "account",
                "edit",
                &giro[..8],
                "--name",
                "Girokonto",
                "--balance",
                "-3",
            ],
        )
        .await
        .ok();
    let accounts = server_accounts(&server, &tenant).await;
    assert_eq!(accounts[0].name, "Girokonto");
    assert!((accounts[0].balance + 3.0).abs() < 1e-9);
    let out = device
        .run(&server.url, &["account", "delete", "girokonto"])
        .await
        .ok();
    assert_eq!(out, format!("deleted account Girokonto ({giro})\n"));
    assert!(server_accounts(&server, &tenant).await.is_empty());

    let out = device.run(&server.url, &["group", "list"]).await.ok();
    assert_eq!(
        row(&out, &group).unwrap(),
        [group.as_str(), "Banks", "0", "0"]
    );

    // The same lists for scripts: `--json`.
    let json = |out: String| -> serde_json::Value { serde_json::from_str(&out).unwrap() };
    let groups = json(
        device
            .run(&server.url, &["group", "list", "--json"])
            .await
            .ok(),
    );
    assert_eq!(
        groups,
        serde_json::json!([{"id": group, "name": "Banks", "sort_order": 0, "accounts": 0}])
    );
    let tenants = json(
        device
            .run(&server.url, &["--json", "tenant", "list"])
            .await
            .ok(),
    );
    assert_eq!(
        tenants,
        serde_json::json!([{"id": tenant, "name": "Household", "current": true}])
    );
    let accounts = json(
        device
            .run(&server.url, &["account", "list", "--json"])
            .await
            .ok(),
    );
    assert_eq!(accounts, serde_json::json!([]));
    let status = json(device.run(&server.url, &["status", "--json"]).await.ok());
    assert_eq!(status["tenant"]["id"], tenant.as_str());
    assert_eq!(
        (
            &status["online"],
            &status["synced"],
            &status["pending"],
            &status["accounts"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!(true),
            &serde_json::json!(0),
            &serde_json::json!(0)
        ),
        "{status}"
    );
}

#[tokio::test]
async fn offline_changes_wait_in_the_replica_and_reach_other_devices_after_sync() {
    let server = start().await;
    let laptop = Device::new();
    laptop.sign_up(&server, "bert").await;
    let tenant = laptop.new_tenant(&server, "Home").await;
    laptop
        .run(&server.url, &["group", "add", "Cash", "--sort", "3"])
        .await
        .ok();

    // Offline: the change is kept and counted.
    let offline = closed_server();
    let run = laptop
        .run(
            &offline,
            &[
                "account", "add", "--name", "Wallet", "--group", "cash", "--type", "bar",
            ],
        )
        .await;
    assert!(
        run.stderr.contains("not synced") && run.stderr.contains("1 change waiting to be sent"),
        "{run:#?}"
    );
    let wallet = id_in(&run.ok());
    let status = laptop.run(&offline, &["status"]).await.ok();
    assert!(status.contains("\npending:    1\n"), "{status}");
    assert!(status.contains("connection: offline ("), "{status}");
    assert!(
        status.contains(&format!("tenant:     Home ({tenant})")),
        "{status}"
    );
    let out = laptop.run(&offline, &["account", "list"]).await.ok();
    assert!(row(&out, &wallet).is_some(), "{out}");
    let listed: serde_json::Value = serde_json::from_str(
        &laptop
            .run(&offline, &["account", "list", "--json"])
            .await
            .ok(),
    )
    .unwrap();
    assert_eq!(listed[0]["id"], wallet.as_str(), "{listed}");
    assert_eq!(listed[0]["group"], "Cash", "{listed}");
    let status: serde_json::Value =
        serde_json::from_str(&laptop.run(&offline, &["status", "--json"]).await.ok()).unwrap();
    assert_eq!(
        (&status["online"], &status["pending"]),
        (&serde_json::json!(false), &serde_json::json!(1)),
        "{status}"
    );
    assert!(server_accounts(&server, &tenant).await.is_empty());

    // `sync` without the server fails, and says the change still waits.
    let error = laptop.run(&offline, &["sync"]).await.failed();
    assert!(error.contains("1 change waiting"), "{error}");

    // Back online: `sync` sends it.
    let out = laptop.run(&server.url, &["sync"]).await.ok();
    assert!(
        out.contains("sent 1 change") && out.contains("0 pending, 0 failed"),
        "{out}"
    );
    let accounts = server_accounts(&server, &tenant).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (accounts[0].id.as_str(), accounts[0].name.as_str()),
        (wallet.as_str(), "Wallet")
    );
    let status = laptop.run(&server.url, &["status"]).await.ok();
    assert!(status.contains("\npending:    0\n"), "{status}");
    assert!(status.contains("connection: online, synced"), "{status}");
    assert!(!status.contains("last sync:  never"), "{status}");

    // Another device of the same user sees it after its own sync.
    let phone = Device::new();
    phone.log_in(&server, "bert").await;
    phone
        .run(&server.url, &["tenant", "use", &tenant])
        .await
        .ok();
    let out = phone.run(&server.url, &["sync"]).await.ok();
    assert!(out.contains("received 2 changes"), "{out}");
    let out = phone.run(&server.url, &["account", "list"]).await.ok();
    assert_eq!(
        row(&out, &wallet).unwrap(),
        [wallet.as_str(), "Wallet", "bar", "0.00", "Cash"]
    );
}

#[tokio::test]
async fn watch_prints_a_change_made_on_another_device() {
    let server = start().await;
    let desk = Device::new();
    desk.sign_up(&server, "carl").await;
    let tenant = desk.new_tenant(&server, "Shop").await;
    let out = desk.run(&server.url, &["group", "add", "Tills"]).await.ok();
    let group = id_in(&out);

    let watcher = Device::new();
    watcher.log_in(&server, "carl").await;
    watcher
        .run(&server.url, &["tenant", "use", &tenant])
        .await
        .ok();
    let mut child: Child = watcher.command(&server.url, &["watch"]).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_for(&mut stderr, "online").await;
    // The catch-up brings the group that existed before.
    let line = wait_for(&mut stdout, &group).await;
    assert!(
        line.contains("remote AccountGroup") && line.contains("\"Tills\""),
        "{line}"
    );

    let out = desk
        .run(
            &server.url,
            &[
                "account",
                "add",
                "--name",
                "Till 1",
                "--group",
                &group,
                "--balance",
                "50",
            ],
        )
        .await
        .ok();
    let till = id_in(&out);
    let line = wait_for(&mut stdout, &till).await;
    assert!(
        line.contains("remote Account") && line.contains("changed \"Till 1\" balance 50.00"),
        "{line}"
    );
    desk.run(&server.url, &["account", "delete", &till])
        .await
        .ok();
    let line = wait_for(&mut stdout, &till).await;
    assert!(line.ends_with(" deleted"), "{line}");

    child.kill().await.unwrap();
}

/// Reads lines until one contains `needle`; that line.
async fn wait_for<R>(lines: &mut Lines<BufReader<R>>, needle: &str) -> String
where
    R: tokio::io::AsyncRead + Unpin,
{
    let search = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the output ended without {needle:?}");
    };
    tokio::time::timeout(PATIENCE, search)
        .await
        .unwrap_or_else(|_| panic!("no line with {needle:?} within {PATIENCE:?}"))
}

#[tokio::test]
async fn errors_are_one_clear_line_and_fail() {
    let server = start().await;
    let device = Device::new();
    let not_logged_in = "finwise-cli: not logged in: run `finwise-cli login`\n";
    for args in [
        &["account", "list"][..],
        &["account", "add", "--name", "X", "--group", "g"],
        &["tenant", "list"],
        &["status"],
        &["sync"],
    ] {
        let error = device.run(&server.url, args).await.failed();
        assert_eq!(error, not_logged_in, "{args:?}");
    }

    device.sign_up(&server, "dora").await;
    let error = device.run(&server.url, &["group", "list"]).await.failed();
    assert!(
        error.starts_with("finwise-cli: no tenant selected: run `finwise-cli tenant use"),
        "{error}"
    );

    let error = device
        .run(&server.url, &["login", "dora", "--password", "wrong"])
        .await
        .failed();
    assert_eq!(
        error,
        "finwise-cli: the server refused: Incorrect username or password (401)\n"
    );
    let error = device
        .run(
            &server.url,
            &[
                "register",
                "--name",
                "dora",
                "--email",
                "other@example.com",
                "--password",
                "x",
            ],
        )
        .await
        .failed();
    assert_eq!(
        error,
        "finwise-cli: the server refused: Username already taken (400)\n"
    );
    let error = device
        .run(&closed_server(), &["tenant", "create", "Home"])
        .await
        .failed();
    assert!(
        error.starts_with("finwise-cli: cannot reach the server at http://127.0.0.1:"),
        "{error}"
    );

    device.new_tenant(&server, "Home").await;
    let error = device
        .run(
            &server.url,
            &["account", "add", "--name", "X", "--group", "nowhere"],
        )
        .await
        .failed();
    assert!(
        error.starts_with("finwise-cli: no account group \"nowhere\" in the local replica"),
        "{error}"
    );
    let error = device
        .run(&server.url, &["account", "edit", "nothing", "--name", "Y"])
        .await
        .failed();
    assert!(
        error.starts_with("finwise-cli: no account \"nothing\""),
        "{error}"
    );
    let error = device
        .run(&server.url, &["tenant", "use", "Elsewhere"])
        .await
        .failed();
    assert!(
        error.starts_with("finwise-cli: no tenant \"Elsewhere\""),
        "{error}"
    );
    // A usage error of ours exits with 2, as clap's do.
    let run = device.run("localhost:8000", &["status"]).await;
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains("must start with http:// or https://"),
        "{run:#?}"
    );

    // clap's own mistakes exit with 2.
    let run = device
        .run(&server.url, &["account", "add", "--name", "X"])
        .await;
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("--group"), "{run:#?}");
}

#[tokio::test]
async fn sync_catches_up_a_large_tenant() {
    let server = start().await;
    let device = Device::new();
    device.sign_up(&server, "emil").await;
    let tenant = device.new_tenant(&server, "Big").await;
    let group = AccountGroup {
        id: "g1".to_owned(),
        name: "All".to_owned(),
        sort_order: 0,
        logo_path: None,
        updated_at: None,
    };
    let mut changes = vec![Change::upsert(&group).unwrap()];
    for index in 0..2500 {
        let account: Account = serde_json::from_value(serde_json::json!({
            "id": format!("a{index:05}"),
            "name": format!("Account {index}"),
            "accountType": "spar",
            "isActive": true,
            "isOfflineBudget": false,
            "accountGroupId": "g1",
            "balance": index,
            "offset": 0,
        }))
        .unwrap();
        changes.push(Change::upsert(&account).unwrap());
    }
    let tenant_id = TenantId::new(tenant.as_str()).unwrap();
    server
        .state
        .store
        .apply(&tenant_id, &changes)
        .await
        .unwrap();

    let out = device.run(&server.url, &["sync"]).await.ok();
    assert!(
        out.contains("received 2501 changes") && out.contains("cursor 2501;"),
        "{out}"
    );
    let out = device.run(&server.url, &["account", "list"]).await.ok();
    assert_eq!(out.lines().count(), 2501, "a header and 2500 accounts");
    assert_eq!(
        row(&out, "a02499").unwrap(),
        ["a02499", "Account", "2499", "spar", "2499.00", "All"]
    );
}

/// A transaction of `account`, as the FinWise frontend writes one.
fn transaction(id: &str, account: &str, at: &str) -> Transaction {
    serde_json::from_value(serde_json::json!({
        "id": id, "accountId": account, "date": "2026-03-01", "valueDate": "2026-03-01",
        "amount": -12.5, "type": "EXPENSE", "runningBalance": 0, "updated_at": at,
    }))
    .unwrap()
}

/// The transaction ids in a device's replica of `tenant`, read with the client offline.
async fn replica_transactions(device: &Device, tenant: &str) -> Vec<String> {
    let offline = closed_server().replace("http://", "ws://");
    let client = sync_client::Client::builder(format!("{offline}/ws"))
        .tenant(tenant)
        .database(device.profile.path().join(format!("{tenant}.db")))
        .entities(&finwise::entities::registry())
        .build()
        .await
        .unwrap();
    let mut ids: Vec<String> = client
        .list::<Transaction>()
        .await
        .unwrap()
        .into_iter()
        .map(|transaction| transaction.id)
        .collect();
    let subscribed = client
        .subscriptions()
        .await
        .unwrap()
        .iter()
        .filter(|held| held.stream.ends_with("_by_account"))
        .count();
    client.close().await.unwrap();
    assert_eq!(
        subscribed, 2,
        "transactions and planned transactions, by account"
    );
    ids.sort();
    ids
}

/// Writes straight to the store: the account groups `groups`, the accounts `accounts`
/// (id, name, group) and one transaction per `(id, account)` of `transactions`.
async fn seed(
    server: &Server,
    tenant: &TenantId,
    groups: &[&str],
    accounts: &[(&str, &str, &str)],
    transactions: &[(&str, &str)],
) {
    let mut changes = Vec::new();
    for id in groups {
        let group = AccountGroup {
            id: (*id).to_owned(),
            name: "All".to_owned(),
            sort_order: 0,
            logo_path: None,
            updated_at: None,
        };
        changes.push(Change::upsert(&group).unwrap());
    }
    for (id, name, group) in accounts {
        let account: Account = serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "accountType": "spar", "isActive": true,
            "isOfflineBudget": false, "accountGroupId": group, "balance": 0, "offset": 0,
        }))
        .unwrap();
        changes.push(Change::upsert(&account).unwrap());
    }
    for (id, account) in transactions {
        changes
            .push(Change::upsert(&transaction(id, account, "2026-03-01T08:00:00.000Z")).unwrap());
    }
    server.state.store.apply(tenant, &changes).await.unwrap();
}

#[tokio::test]
async fn sync_with_accounts_keeps_only_their_transactions_and_follows_moves() {
    let server = start().await;
    let device = Device::new();
    device.sign_up(&server, "emil").await;
    let tenant = device.new_tenant(&server, "Household").await;
    let tenant_id = TenantId::new(tenant.as_str()).unwrap();
    seed(
        &server,
        &tenant_id,
        &["g1"],
        &[
            ("a1", "Giro", "g1"),
            ("a2", "Cash", "g1"),
            ("a3", "Card", "g1"),
        ],
        &[("t1", "a1"), ("t2", "a2"), ("t3", "a3")],
    )
    .await;

    // A fresh device: the accounts are not in its replica yet, so they go by id.
    let out = device
        .run(&server.url, &["sync", "--accounts", "a1,a3"])
        .await
        .ok();
    assert!(
        out.contains("keeping the transactions of a1 (not in the replica yet), a3"),
        "{out}"
    );
    assert_eq!(replica_transactions(&device, &tenant).await, ["t1", "t3"]);
    let out = device.run(&server.url, &["account", "list"]).await.ok();
    assert_eq!(out.lines().count(), 4, "accounts stay whole: {out}");

    // Remembered: a plain sync follows t2 into Giro and t1 out of it.
    let moves = [
        Change::upsert(&transaction("t2", "a1", "2026-03-02T08:00:00.000Z")).unwrap(),
        Change::upsert(&transaction("t1", "a2", "2026-03-02T08:00:00.000Z")).unwrap(),
    ];
    server.state.store.apply(&tenant_id, &moves).await.unwrap();
    device.run(&server.url, &["sync"]).await.ok();
    assert_eq!(replica_transactions(&device, &tenant).await, ["t2", "t3"]);

    // Other accounts, by name now that the replica knows them.
    let out = device
        .run(&server.url, &["sync", "--accounts", "Cash"])
        .await
        .ok();
    assert!(
        out.contains("keeping the transactions of Cash (a2)"),
        "{out}"
    );
    assert_eq!(replica_transactions(&device, &tenant).await, ["t1"]);
}

#[tokio::test]
async fn a_member_keeps_only_the_transactions_its_account_groups_allow() {
    let server = start().await;
    let owner = common::user(&server, "olga").await;
    let tenant = common::create_tenant(&server, &owner, "Haushalt").await["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_id = TenantId::new(tenant.as_str()).unwrap();
    let mia = common::user(&server, "mia").await;
    let (added, _) =
        common::add_member(&server, &owner, &tenant, "mia@example.com", "member").await;
    assert_eq!(added, reqwest::StatusCode::CREATED);
    seed(
        &server,
        &tenant_id,
        &["g1", "g2"],
        &[("a1", "a1", "g1"), ("a2", "a2", "g2")],
        &[("t1", "a1"), ("t2", "a2")],
    )
    .await;
    let given = owner
        .client
        .put(server.url(&format!(
            "/tenants/{tenant}/members/{}/account-groups",
            mia.uuid
        )))
        .json(&serde_json::json!({"account_groups": ["g1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), reqwest::StatusCode::OK);

    // Mia's device asks for both accounts and keeps what her group allows.
    let device = Device::new();
    device.log_in(&server, "mia").await;
    device
        .run(&server.url, &["tenant", "use", &tenant])
        .await
        .ok();
    device
        .run(&server.url, &["sync", "--accounts", "a1,a2"])
        .await
        .ok();
    assert_eq!(replica_transactions(&device, &tenant).await, ["t1"]);
    // And only the accounts of her group.
    let out = device.run(&server.url, &["account", "list"]).await.ok();
    assert_eq!(out.lines().count(), 2, "a header and a1: {out}");
    assert!(row(&out, "a1").is_some(), "{out}");
    // The owner's device, asking for the same, gets both.
    let owner_device = Device::new();
    owner_device.log_in(&server, "olga").await;
    owner_device
        .run(&server.url, &["tenant", "use", &tenant])
        .await
        .ok();
    owner_device
        .run(&server.url, &["sync", "--accounts", "a1,a2"])
        .await
        .ok();
    assert_eq!(
        replica_transactions(&owner_device, &tenant).await,
        ["t1", "t2"]
    );
    let out = owner_device
        .run(&server.url, &["account", "list"])
        .await
        .ok();
    assert_eq!(out.lines().count(), 3, "a header, a1 and a2: {out}");
}

#[tokio::test]
async fn the_default_profile_is_a_private_directory_in_the_config_dir() {
    let server = start().await;
    let home = tempfile::tempdir().unwrap();
    let with_home = |args: &[&str]| {
        let mut command = command(&server.url, None, args);
        command
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME");
        command
    };
    run(with_home(&[
        "register",
        "--name",
        "fred",
        "--email",
        "fred@example.com",
        "--password",
        "pw",
    ]))
    .await
    .ok();
    run(with_home(&["login", "fred", "--password", "pw"]))
        .await
        .ok();

    let dir = home.path().join(".config").join("finwise-cli");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("profile.json")).unwrap()).unwrap();
    assert_eq!(profile["server"], server.url.as_str());
    assert_eq!(profile["user"]["name"], "fred");
    assert!(
        profile["token"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("profile.json")), 0o600);
    }

    // The next command needs no --server: the profile remembers the login's.
    let mut next = Command::new(env!("CARGO_BIN_EXE_finwise-cli"));
    next.args(["tenant", "create", "Home"])
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("FINWISE_SERVER")
        .env_remove("FINWISE_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run(next).await.ok();
    assert!(out.starts_with("created tenant Home ("), "{out}");

    // Logging out keeps the profile but not the token.
    run(with_home(&["logout"])).await.ok();
    let error = run(with_home(&["tenant", "list"])).await.failed();
    assert_eq!(
        error,
        "finwise-cli: not logged in: run `finwise-cli login`\n"
    );
}
