//! The app's rules on every write path: validate and authorize refuse changes from a
//! session's single entries and batches and from the server-side write API, with the NACK
//! reasons the protocol names; a retry of a processed change keeps its outcome; the
//! after-commit rule hears of each applied change once, in commit order, without holding
//! up the writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sync_core::change::{Change, TypedChange};
use sync_core::engine::{self, Engine};
use sync_core::entity::{Actor, Proposed, Rules};
use sync_core::hub::Hub;
use sync_core::outcome::{Outcome, Reason};
use sync_core::session::{self, Inbound, Outbound, Session};
use sync_core::store::sqlite::SqliteStore;
use sync_core::{Registry, TenantId};
use sync_testkit::entities::{Account, AccountGroup, account_json};
use sync_testkit::ws::{entry, process};
use tokio::sync::watch;

/// What the after-commit rule heard: tenant, what was committed, its sequence number.
type Heard = Arc<Mutex<Vec<(String, String, Option<u64>)>>>;

/// Accounts: no negative balance; only an `admin` deletes; the commits are recorded.
#[derive(Default)]
struct AccountRules {
    committed: Heard,
    /// While set, the after-commit rule blocks its thread.
    blocked: Arc<AtomicBool>,
}

impl Rules<Account> for AccountRules {
    fn validate(&self, change: &Proposed<'_, Account>) -> Result<(), String> {
        match change {
            Proposed::Upsert(account) if account.balance < 0.0 => {
                Err(format!("balance of {} must not be negative", account.id))
            }
            _ => Ok(()),
        }
    }

    fn authorize(
        &self,
        actor: &Actor,
        _: &TenantId,
        change: &Proposed<'_, Account>,
    ) -> Result<(), String> {
        match change {
            Proposed::Delete { id } if !actor.is_server() && actor.role() != Some("admin") => {
                Err(format!("only an admin deletes account {id}"))
            }
            _ => Ok(()),
        }
    }

    fn after_commit(&self, tenant: &TenantId, committed: &TypedChange<Account>) {
        while self.blocked.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let what = match committed {
            TypedChange::Upsert { entity, .. } => format!("upsert {}", entity.name),
            TypedChange::Delete { id, .. } => format!("delete {id}"),
        };
        self.committed
            .lock()
            .unwrap()
            .push((tenant.to_string(), what, committed.cursor()));
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine<SqliteStore>,
    committed: Heard,
    blocked: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
    tenant: TenantId,
}

async fn fixture() -> Fixture {
    let rules = AccountRules::default();
    let (committed, blocked) = (rules.committed.clone(), rules.blocked.clone());
    let registry = sync_testkit::entities::registry()
        .with_rules::<Account>(rules)
        .unwrap()
        .with_authorizer(|actor: &Actor, _: &TenantId, _: &Change| {
            if actor.role() == Some("viewer") {
                Err("viewers only read".to_owned())
            } else {
                Ok(())
            }
        });
    let (dir, store) = sync_testkit::store::sqlite_of(registry).await;
    Fixture {
        _dir: dir,
        engine: Engine::new(store, Hub::new(64), engine::Config::default()),
        committed,
        blocked,
        shutdown: watch::channel(false).0,
        tenant: TenantId::new("household").unwrap(),
    }
}

/// A session of `actor`, driven over channels.
struct Client {
    to_session: mpsc::Sender<Inbound>,
    from_session: mpsc::Receiver<Outbound>,
}

impl Fixture {
    async fn connect(&self, actor: Actor) -> Client {
        let (to_session, inbound) = mpsc::channel(64);
        let (outbound, from_session) = mpsc::channel(64);
        let session = Session::new(
            self.engine.clone(),
            self.tenant.clone(),
            actor,
            session::Config::default(),
            self.shutdown.subscribe(),
        );
        tokio::spawn(session.run(inbound, outbound));
        let mut client = Client {
            to_session,
            from_session,
        };
        assert_eq!(client.recv().await["status"], "online");
        client
    }
}

impl Client {
    async fn send(&mut self, message: Value) {
        let text = Inbound::Text(message.to_string());
        self.to_session.send(text).await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.from_session.next())
                .await
                .expect("an answer within 5 s")
                .expect("open");
            if let Outbound::Text(text) = frame {
                let json: Value = serde_json::from_str(&text).unwrap();
                if json["type"] != "ping" {
                    return json;
                }
            }
        }
    }

    /// Sends `entries` one message each, then reads one answer per entry: (type, reason).
    async fn answers(&mut self, entries: Vec<Value>, batch: bool) -> Vec<(String, String, Value)> {
        let count = entries.len();
        if batch {
            self.send(json!({"type": "process_sync_batch", "entries": entries}))
                .await;
        } else {
            for entry in entries {
                self.send(process(entry)).await;
            }
        }
        let mut answers = Vec::new();
        for _ in 0..count {
            let answer = self.recv().await;
            answers.push((
                answer["type"].as_str().unwrap().to_owned(),
                answer["reason"].as_str().unwrap_or("").to_owned(),
                answer,
            ));
        }
        answers
    }
}

fn account_entry(
    id: &str,
    tenant: &TenantId,
    operation: &str,
    entity: &str,
    balance: f64,
) -> Value {
    let mut payload = account_json(entity, &format!("name of {id}"), None);
    payload["balance"] = json!(balance);
    entry(id, tenant.as_str(), "Account", operation, entity, payload)
}

fn kinds(answers: &[(String, String, Value)]) -> Vec<(&str, &str)> {
    answers
        .iter()
        .map(|(kind, reason, _)| (kind.as_str(), reason.as_str()))
        .collect()
}

#[tokio::test]
async fn validate_and_authorize_refuse_single_entries_and_batches_of_a_session() {
    let fixture = fixture().await;
    let tenant = fixture.tenant.clone();
    for batch in [false, true] {
        let mut editor = fixture.connect(Actor::user("ed").with_role("editor")).await;
        let prefix = if batch { "b" } else { "s" };
        let entries = vec![
            account_entry(
                &format!("{prefix}1"),
                &tenant,
                "create",
                &format!("{prefix}a1"),
                5.0,
            ),
            account_entry(
                &format!("{prefix}2"),
                &tenant,
                "create",
                &format!("{prefix}a2"),
                -1.0,
            ),
            entry(
                &format!("{prefix}3"),
                tenant.as_str(),
                "Account",
                "delete",
                &format!("{prefix}a1"),
                json!(null),
            ),
            entry(
                &format!("{prefix}4"),
                tenant.as_str(),
                "AccountGroup",
                "create",
                "g1",
                json!({"id": "g1", "name": "G"}),
            ),
        ];
        let answers = editor.answers(entries, batch).await;
        assert_eq!(
            kinds(&answers),
            [
                ("sync_ack", ""),
                ("sync_nack", "validation_error"),
                ("sync_nack", "forbidden"),
                ("sync_ack", ""),
            ],
            "batch: {batch}"
        );
        assert_eq!(
            answers[1].2["detail"],
            format!("balance of {prefix}a2 must not be negative")
        );
        assert_eq!(answers[1].2["retryable"], false);
        assert_eq!(
            answers[2].2["detail"],
            format!("only an admin deletes account {prefix}a1")
        );
        assert_eq!(answers[2].2["retryable"], false);

        // The registry's authorizer refuses every write of a viewer, whatever the entity.
        let mut viewer = fixture.connect(Actor::user("vi").with_role("viewer")).await;
        let entries = vec![
            account_entry(
                &format!("{prefix}5"),
                &tenant,
                "update",
                &format!("{prefix}a1"),
                7.0,
            ),
            entry(
                &format!("{prefix}6"),
                tenant.as_str(),
                "AccountGroup",
                "update",
                "g1",
                json!({"id": "g1", "name": "H"}),
            ),
        ];
        let answers = viewer.answers(entries, batch).await;
        assert_eq!(
            kinds(&answers),
            [("sync_nack", "forbidden"), ("sync_nack", "forbidden")]
        );
        assert_eq!(answers[0].2["detail"], "viewers only read");

        // An admin deletes.
        let mut admin = fixture.connect(Actor::user("ad").with_role("admin")).await;
        let delete = entry(
            &format!("{prefix}7"),
            tenant.as_str(),
            "Account",
            "delete",
            &format!("{prefix}a1"),
            json!(null),
        );
        assert_eq!(
            kinds(&admin.answers(vec![delete], batch).await),
            [("sync_ack", "")]
        );
    }
    let stored = fixture.engine.list::<Account>(&tenant).await.unwrap();
    assert!(
        stored.is_empty(),
        "refused changes wrote nothing: {stored:?}"
    );
    let group = fixture
        .engine
        .get::<AccountGroup>(&tenant, "g1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.name, "G", "the viewer's update was refused");
}

#[tokio::test]
async fn the_server_side_write_api_runs_the_rules_for_its_actor() {
    let fixture = fixture().await;
    let (engine, tenant) = (&fixture.engine, &fixture.tenant);

    let negative = Account::new("a1", "overdrawn", -3.0);
    match engine.put(tenant, &negative).await.unwrap() {
        Outcome::Rejected(rejection) => {
            assert_eq!(rejection.reason, Reason::ValidationError);
            assert_eq!(rejection.detail, "balance of a1 must not be negative");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(matches!(
        engine
            .put(tenant, &Account::new("a1", "fine", 3.0))
            .await
            .unwrap(),
        Outcome::Applied { .. }
    ));

    // The server deletes (its actor passes `authorize`); a user acting through
    // `write_as` is held to the same rules as over the wire.
    let user = Actor::user("ed").with_role("editor");
    let delete = [TypedChange::<Account>::delete_of::<Account>("a1")];
    let outcomes = engine.write_as(&user, tenant, &delete).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(rejection) if rejection.reason == Reason::Forbidden),
        "{outcomes:?}"
    );
    let viewer = Actor::user("vi").with_role("viewer");
    let group = [TypedChange::<AccountGroup>::upsert(AccountGroup {
        id: "g1".into(),
        name: "G".into(),
        sort_order: 0,
        updated_at: None,
    })];
    let outcomes = engine.write_as(&viewer, tenant, &group).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(rejection) if rejection.reason == Reason::Forbidden),
        "{outcomes:?}"
    );
    let outcomes = engine.write(tenant, &delete).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert!(engine.delete::<Account>(tenant, "a1").await.is_ok());
}

#[tokio::test]
async fn a_retry_of_a_processed_change_keeps_its_outcome_when_the_rules_now_refuse_it() {
    let fixture = fixture().await;
    let (engine, tenant) = (&fixture.engine, &fixture.tenant);
    let change = Change::upsert(&Account::new("a1", "mine", 1.0)).unwrap();
    let editor = Actor::user("ed").with_role("editor");
    let first = engine
        .submit_as(&editor, tenant, None, vec![change.clone()])
        .await
        .unwrap();
    assert!(matches!(first.outcomes[0], Outcome::Applied { .. }));

    // Demoted to viewer, the client resends the change it never saw ACKed.
    let viewer = Actor::user("ed").with_role("viewer");
    let retry = engine
        .submit_as(&viewer, tenant, None, vec![change.clone()])
        .await
        .unwrap();
    assert!(
        matches!(retry.outcomes[0], Outcome::Duplicate { .. }),
        "{:?}",
        retry.outcomes
    );

    // A new change of the viewer is refused, and so are its retries.
    let new = Change::upsert(&Account::new("a1", "theirs", 1.0)).unwrap();
    for _ in 0..2 {
        let refused = engine
            .submit_as(&viewer, tenant, None, vec![new.clone()])
            .await
            .unwrap();
        assert!(
            matches!(&refused.outcomes[0], Outcome::Rejected(rejection) if rejection.reason == Reason::Forbidden)
        );
    }
    assert_eq!(
        engine
            .get::<Account>(tenant, "a1")
            .await
            .unwrap()
            .unwrap()
            .name,
        "mine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_commit_hears_each_applied_change_once_in_order_without_holding_up_the_writer() {
    let fixture = fixture().await;
    let (engine, tenant) = (&fixture.engine, &fixture.tenant);

    // The rule is blocked: commits and their outcomes go on regardless.
    fixture.blocked.store(true, Ordering::SeqCst);
    let outcomes = [
        engine
            .put(tenant, &Account::new("a1", "one", 1.0))
            .await
            .unwrap(),
        engine
            .put(tenant, &Account::new("a1", "two", 2.0))
            .await
            .unwrap(),
        engine.delete::<Account>(tenant, "a1").await.unwrap(),
    ];
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, Outcome::Applied { .. })),
        "{outcomes:?}"
    );
    // Neither a refused, a superseded nor a duplicate change is heard of, nor an entity
    // without rules.
    assert!(matches!(
        engine
            .put(tenant, &Account::new("a2", "bad", -1.0))
            .await
            .unwrap(),
        Outcome::Rejected(_)
    ));
    let old = Account {
        updated_at: Some("2020-01-01T00:00:00Z".parse().unwrap()),
        ..Account::new("a1", "old", 1.0)
    };
    assert!(matches!(
        engine.put(tenant, &old).await.unwrap(),
        Outcome::Superseded { .. }
    ));
    let group = AccountGroup {
        id: "g1".into(),
        name: "G".into(),
        sort_order: 0,
        updated_at: None,
    };
    engine.put(tenant, &group).await.unwrap();
    assert!(
        fixture.committed.lock().unwrap().is_empty(),
        "the rule is still blocked"
    );
    fixture.blocked.store(false, Ordering::SeqCst);

    let heard = async {
        loop {
            if fixture.committed.lock().unwrap().len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), heard)
        .await
        .expect("the rule hears of the commits");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let committed = fixture.committed.lock().unwrap().clone();
    assert_eq!(
        committed,
        [
            ("household".to_owned(), "upsert one".to_owned(), Some(1)),
            ("household".to_owned(), "upsert two".to_owned(), Some(2)),
            ("household".to_owned(), "delete a1".to_owned(), Some(3)),
        ]
    );
}

#[test]
fn rules_for_an_unregistered_entity_are_an_error() {
    let only_groups = Registry::builder()
        .entity::<AccountGroup>()
        .build()
        .unwrap();
    let error = only_groups
        .with_rules::<Account>(AccountRules::default())
        .expect_err("an error");
    assert!(error.to_string().contains("Account"), "{error}");
}
