//! `todo`: the smallest complete app on the sync framework.
//!
//! One entity ([`Todo`]), your own authentication ([`ApiKeys`]), a server that mounts the
//! sync router into an existing axum app ([`app`], run by `src/bin/todo-server.rs`), and a
//! client that keeps two offline replicas of one list in step ([`two_replicas`], run by
//! `src/bin/todo-client.rs`). docs/getting-started.md walks through it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let data = tempfile::tempdir().unwrap();
//! let keys = todo::ApiKeys::parse("alice-key=alice@home,bob-key=bob@home").unwrap();
//! let (app, _sync) = todo::app(data.path(), keys).await.unwrap();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let url = format!("ws://{}/sync", listener.local_addr().unwrap());
//! tokio::spawn(axum::serve(listener, app).into_future());
//!
//! let replicas = tempfile::tempdir().unwrap();
//! let seen = todo::two_replicas(&url, replicas.path()).await.unwrap();
//! assert_eq!(seen.len(), 1);
//! assert!(seen[0].done, "bob's edit reached alice's replica");
//! # });
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use http::request::Parts;
use serde::{Deserialize, Serialize};
use sync_axum::SyncServer;
use sync_axum::auth::{Authenticator, Principal, Refusal, request_token};
use sync_client::Client;
use sync_core::store::sqlite::SqliteStore;
use sync_core::{Registry, Syncable, TenantId};

/// One item of a to-do list. A list is a tenant: everyone who may sync it sees all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Syncable)]
#[sync(entity = "Todo", table = "todos")]
pub struct Todo {
    /// The item's id, chosen by the client that creates it.
    #[sync(id)]
    pub id: String,
    /// What is to be done.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
    /// When it was last edited: last write wins, stamped by the client that edits.
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Your own authentication: API keys, each naming a user and the one list it may sync.
///
/// Any [`Authenticator`] fits here: a session cookie of your app, a JWT of your identity
/// provider (`sync_axum::jwt`), or a lookup in your own users table.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    users: HashMap<String, (String, TenantId)>,
}

impl ApiKeys {
    /// Reads `key=user@list` pairs separated by commas.
    pub fn parse(text: &str) -> Result<ApiKeys, String> {
        let mut users = HashMap::new();
        for pair in text
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (key, grant) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not key=user@list"))?;
            let (user, list) = grant
                .split_once('@')
                .ok_or_else(|| format!("`{grant}` is not user@list"))?;
            let list = TenantId::new(list).map_err(|error| format!("list `{list}`: {error}"))?;
            users.insert(key.to_owned(), (user.to_owned(), list));
        }
        Ok(ApiKeys { users })
    }
}

impl Authenticator for ApiKeys {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        let key = request_token(request, "todo_key")
            .ok_or_else(|| Refusal::Unauthorized("an API key is required".to_owned()))?;
        let (user, list) = self
            .users
            .get(&key)
            .ok_or_else(|| Refusal::Unauthorized("unknown API key".to_owned()))?;
        if list != tenant {
            return Err(Refusal::Forbidden(format!(
                "{user} may not sync list {tenant}"
            )));
        }
        Ok(Principal::new(user.clone(), tenant.clone()))
    }
}

/// Your existing axum app with sync mounted at `/sync/{list}`, storing each list in its
/// own SQLite file under `data`. The [`SyncServer`] is returned for graceful shutdown.
pub async fn app(
    data: &Path,
    keys: ApiKeys,
) -> Result<(Router, SyncServer<SqliteStore, ApiKeys>), sync_core::Error> {
    let registry = Registry::builder().entity::<Todo>().build()?;
    let store = SqliteStore::builder(data, registry).open().await?;
    let sync = SyncServer::builder(store, keys)
        .path("/sync/{tenant_id}")
        .build();
    let existing = Router::new().route("/", get(|| async { "my app, now with sync\n" }));
    Ok((existing.merge(sync.router()), sync))
}

/// Two users' offline replicas of the list `home` converging through the server at `url`
/// (`ws://…/sync`): alice adds an item, bob marks it done, and alice's replica ends with
/// bob's edit. Returns alice's list.
pub async fn two_replicas(url: &str, dir: &Path) -> Result<Vec<Todo>, sync_client::Error> {
    let open = |key: &str, file: &str| {
        Client::builder(url)
            .tenant("home")
            .token(key)
            .database(dir.join(file))
            .entity::<Todo>()
            .build()
    };
    let (alice, bob) = (
        open("alice-key", "alice.db").await?,
        open("bob-key", "bob.db").await?,
    );
    let sync = Duration::from_secs(10);

    let milk = Todo {
        id: "milk".into(),
        title: "Buy milk".into(),
        done: false,
        updated_at: None,
    };
    alice.put(&milk).await?; // written to alice's replica and outbox, online or not
    alice.sync_now(sync).await?;
    bob.sync_now(sync).await?;
    let mut bought = bob
        .get::<Todo>("milk")
        .await?
        .expect("alice's item reached bob");
    bought.done = true;
    bob.put(&bought).await?;
    bob.sync_now(sync).await?;
    alice.sync_now(sync).await?;

    let seen = alice.list::<Todo>().await?;
    alice.close().await?;
    bob.close().await?;
    Ok(seen)
}
