//! Issue 17: a change the server committed whose ACK was lost, while another client wrote
//! the same entity. The client holds the other client's change back while its own waits
//! (it cannot know its own was applied), and the retry is answered `duplicate`. Whatever
//! the answer, once the entity's last pending change is settled the replica must hold the
//! server's state, for a pending create, update and delete, and for a change that ends
//! failed and is discarded.
//!
//! The lost ACK is real: the proxy cuts the client's connection right before the server's
//! `sync_ack` reaches it, after the server has committed the change.

mod common;

use std::time::Duration;

use common::*;
use serde::{Deserialize, Deserializer, Serialize};
use sync_client::Client;
use sync_core::Registry;

const SYNC: Duration = Duration::from_secs(20);

/// A client `a` behind a proxy, a client `b` connected directly, both synced with an
/// empty server.
struct Setup {
    _dir: Dir,
    server: Server,
    proxy: Proxy,
    a: Client,
    b: Client,
}

impl Setup {
    async fn new() -> Setup {
        Setup::with_registry(registry()).await
    }

    async fn with_registry(registry: Registry) -> Setup {
        let dir = Dir::new();
        let server =
            Server::start_with(&dir.data(), "127.0.0.1:0".parse().unwrap(), registry).await;
        let proxy = Proxy::start(server.address).await;
        let a = client(&proxy.url(), &dir.db("a")).await;
        let b = client(&server.url(), &dir.db("b")).await;
        sync(&a, SYNC).await;
        sync(&b, SYNC).await;
        Setup {
            _dir: dir,
            server,
            proxy,
            a,
            b,
        }
    }

    /// Lets `a` connect again and sync.
    async fn reconnect_a(&self) {
        self.proxy.refuse(false);
        sync(&self.a, SYNC).await;
    }

    /// Every replica equals the server, `a` has nothing left to send, its cursor is the
    /// server's, and syncing again changes nothing.
    async fn assert_settled(&self) {
        let (a, b) = (&self.a, &self.b);
        sync(b, SYNC).await;
        assert_converged(&self.server, &[a, b]).await;
        assert!(
            a.outbox().await.unwrap().is_empty(),
            "{:?}",
            a.outbox().await
        );
        let status = a.status().borrow().clone();
        assert_eq!(
            (status.pending, status.processing, status.failed),
            (0, 0, 0)
        );
        assert_eq!(a.cursor().await.unwrap(), self.server.cursor().await);
        sync(a, SYNC).await;
        assert_converged(&self.server, &[a, b]).await;
    }
}

async fn name(client: &Client, id: &str) -> Option<String> {
    client
        .get::<Account>(id)
        .await
        .unwrap()
        .map(|account| account.name)
}

/// The interleaving as filed: a create's ACK is lost, the other client renames the
/// account, and the retry is answered `duplicate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_ack_was_lost_ends_with_the_rename_made_meanwhile() {
    let setup = Setup::new().await;
    let (a, b) = (&setup.a, &setup.b);

    let lost = setup.proxy.cut_at_next_ack();
    a.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();
    lost.await;
    assert_eq!(
        setup.server.cursor().await,
        1,
        "the server committed the create"
    );

    sync(b, SYNC).await;
    assert_eq!(name(b, "acc").await.as_deref(), Some("Giro"));
    b.put(&Account::new("acc", "Giro (renamed)", 1.0))
        .await
        .unwrap();
    sync(b, SYNC).await;

    setup.reconnect_a().await;
    assert_eq!(name(a, "acc").await.as_deref(), Some("Giro (renamed)"));
    setup.assert_settled().await;
}

/// The same for an update of an entity both clients hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_ack_was_lost_ends_with_the_newer_update_made_meanwhile() {
    let setup = Setup::new().await;
    let (a, b) = (&setup.a, &setup.b);
    a.put(&Account::new("acc", "first", 1.0)).await.unwrap();
    sync(a, SYNC).await;
    sync(b, SYNC).await;

    let lost = setup.proxy.cut_at_next_ack();
    a.put(&Account::new("acc", "second, by a", 2.0))
        .await
        .unwrap();
    lost.await;

    sync(b, SYNC).await;
    assert_eq!(name(b, "acc").await.as_deref(), Some("second, by a"));
    b.put(&Account::new("acc", "third, by b", 3.0))
        .await
        .unwrap();
    sync(b, SYNC).await;

    setup.reconnect_a().await;
    assert_eq!(name(a, "acc").await.as_deref(), Some("third, by b"));
    setup.assert_settled().await;
}

/// The same for a delete: the other client brings the account back after it, and the
/// delete's retry must not leave it deleted on this client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_ack_was_lost_ends_with_the_re_creation_made_meanwhile() {
    let setup = Setup::new().await;
    let (a, b) = (&setup.a, &setup.b);
    a.put(&Account::new("acc", "first", 1.0)).await.unwrap();
    sync(a, SYNC).await;
    sync(b, SYNC).await;

    let lost = setup.proxy.cut_at_next_ack();
    assert!(a.delete::<Account>("acc").await.unwrap());
    lost.await;

    sync(b, SYNC).await;
    assert_eq!(name(b, "acc").await, None, "b saw the delete");
    b.put(&Account::new("acc", "back, by b", 4.0))
        .await
        .unwrap();
    sync(b, SYNC).await;

    setup.reconnect_a().await;
    assert_eq!(name(a, "acc").await.as_deref(), Some("back, by b"));
    setup.assert_settled().await;
}

/// A server that refuses negative balances (`validation_error`), as a server-side rule the
/// client does not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
struct StrictAccount {
    #[sync(id)]
    id: String,
    name: String,
    #[serde(deserialize_with = "non_negative")]
    balance: f64,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let balance = f64::deserialize(deserializer)?;
    if balance < 0.0 {
        return Err(serde::de::Error::custom("must not be negative"));
    }
    Ok(balance)
}

/// A change that ends failed and is discarded. The create's ACK is lost; the other client
/// renames the account; this client's catch-up holds the rename back, and the answer to
/// the create's retry is lost too. This client then edits the account again, an edit the
/// server refuses. When the app discards it, the replica holds the server's state (the
/// rename), not the state this client had before its refused edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_that_is_discarded_ends_with_the_server_state() {
    let strict = Registry::builder()
        .entity::<StrictAccount>()
        .entity::<Tag>()
        .build()
        .unwrap();
    let setup = Setup::with_registry(strict).await;
    let (a, b) = (&setup.a, &setup.b);

    let lost = setup.proxy.cut_at_next_ack();
    a.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();
    lost.await;
    sync(b, SYNC).await;
    b.put(&Account::new("acc", "Giro (renamed)", 1.0))
        .await
        .unwrap();
    sync(b, SYNC).await;

    // a comes back, catches up (the rename is held back: the create still waits) and
    // resends the create; that answer is lost as well.
    let lost = setup.proxy.cut_at_next_ack();
    setup.proxy.refuse(false);
    lost.await;
    assert_eq!(
        name(a, "acc").await.as_deref(),
        Some("Giro"),
        "still held back"
    );
    assert_eq!(
        a.cursor().await.unwrap(),
        2,
        "the catch-up went past the rename"
    );

    a.put(&Account::new("acc", "Giro", -5.0)).await.unwrap();
    setup.reconnect_a().await;
    let failed = a.failed().await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].reason.as_deref(), Some("validation_error"));

    assert_eq!(a.discard_failed().await.unwrap(), 1);
    let account = a.get::<Account>("acc").await.unwrap().unwrap();
    assert_eq!(
        (account.name.as_str(), account.balance),
        ("Giro (renamed)", 1.0)
    );
    setup.assert_settled().await;
}

/// Two refused edits with another client's change between them (a failed edit does not
/// hold incoming changes back, so the rename replaces the first one). Discarding both
/// leaves the rename, not the second refused edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_edits_around_a_remote_change_are_discarded_to_the_server_state() {
    let strict = Registry::builder()
        .entity::<StrictAccount>()
        .entity::<Tag>()
        .build()
        .unwrap();
    let setup = Setup::with_registry(strict).await;
    let (a, b) = (&setup.a, &setup.b);
    a.put(&Account::new("acc", "Giro", 1.0)).await.unwrap();
    sync(a, SYNC).await;
    sync(b, SYNC).await;

    a.put(&Account::new("acc", "Giro", -5.0)).await.unwrap();
    sync(a, SYNC).await;
    b.put(&Account::new("acc", "Giro (renamed)", 2.0))
        .await
        .unwrap();
    sync(b, SYNC).await;
    sync(a, SYNC).await;
    assert_eq!(name(a, "acc").await.as_deref(), Some("Giro (renamed)"));
    a.put(&Account::new("acc", "Giro (renamed)", -7.0))
        .await
        .unwrap();
    sync(a, SYNC).await;
    assert_eq!(a.failed().await.unwrap().len(), 2);

    assert_eq!(a.discard_failed().await.unwrap(), 2);
    let account = a.get::<Account>("acc").await.unwrap().unwrap();
    assert_eq!(
        (account.name.as_str(), account.balance),
        ("Giro (renamed)", 2.0)
    );
    setup.assert_settled().await;
}
