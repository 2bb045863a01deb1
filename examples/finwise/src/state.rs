//! What every handler shares: the sync store, the auth database, the token keys, the
//! authenticator for sync connections, and the hooks run when a tenant is deleted.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use sync_axum::SyncServer;
use sync_axum::jwt::JwtKeys;
use sync_core::TenantId;
use sync_core::store::AnyStore;

use crate::authenticator::FinwiseAuthenticator;
use crate::config::Config;
use crate::db::AuthDb;

/// The application state: cheap to clone, every clone shares the same parts.
///
/// The sync route (mounted beside the HTTP API) takes what it needs from here: `store` to
/// apply changes, `authenticator` to admit WebSocket upgrades, and
/// [`tenant_deleted`](Self::tenant_deleted) to close a deleted tenant's sessions.
#[derive(Clone)]
pub struct AppState {
    /// Every tenant's entities: one SQLite database per tenant under the data directory, or
    /// shared PostgreSQL tables.
    pub store: AnyStore,
    /// Users, tenants and settings.
    pub auth_db: AuthDb,
    /// Issues and verifies session tokens.
    pub keys: JwtKeys,
    /// Admits sync connections: see [`FinwiseAuthenticator`].
    pub authenticator: FinwiseAuthenticator,
    /// Whether the INSECURE development mode is on (see [`Config::dev_open_access`]).
    pub dev_open_access: bool,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// Hooks run on `DELETE /tenants/{id}/complete`.
    pub tenant_deleted: TenantDeletedHooks,
    /// The sync server behind `/ws_finwise/ws/{tenant_id}`: its connection count, and the
    /// handle that ends sessions at shutdown.
    pub sync: Arc<SyncServer<AnyStore, FinwiseAuthenticator>>,
    /// Keeps members' account grants in step with their account groups and the accounts.
    pub grants: crate::grants::Keeper,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &format_args!("{}", store_name(&self.store)))
            .field("auth_db", &self.auth_db)
            .field("dev_open_access", &self.dev_open_access)
            .field("config", &self.config)
            .field("tenant_deleted", &self.tenant_deleted)
            .finish_non_exhaustive()
    }
}

/// The store's kind, for logs and `GET /health`.
pub(crate) fn store_name(store: &AnyStore) -> &'static str {
    match store {
        AnyStore::Sqlite(_) => "sqlite",
        AnyStore::Postgres(_) => "postgres",
        _ => "other",
    }
}

type Hook = Arc<dyn Fn(TenantId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Callbacks run when a tenant is deleted, after its record is removed (so no new sync
/// connection is admitted) and before its data is deleted.
///
/// Each hook is awaited in registration order; the data is deleted only when all have
/// returned. The sync route registers one that closes the tenant's live sessions and waits
/// for their in-flight writes, so nothing writes to the tenant after its files are gone:
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let (_router, state) = finwise::app(finwise::Config::new(dir.path())).await.unwrap();
/// state.tenant_deleted.register(|tenant| async move {
///     tracing::info!(%tenant, "closing the tenant's sessions");
/// });
/// # });
/// ```
#[derive(Clone, Default)]
pub struct TenantDeletedHooks {
    hooks: Arc<RwLock<Vec<Hook>>>,
}

impl TenantDeletedHooks {
    /// Runs `hook` for every tenant deleted from now on.
    pub fn register<F, Fut>(&self, hook: F)
    where
        F: Fn(TenantId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let hook: Hook = Arc::new(move |tenant| Box::pin(hook(tenant)));
        self.hooks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(hook);
    }

    /// Runs every hook for `tenant`, one after the other.
    pub async fn run(&self, tenant: &TenantId) {
        let hooks = self
            .hooks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for hook in hooks {
            hook(tenant.clone()).await;
        }
    }

    /// How many hooks are registered.
    pub fn len(&self) -> usize {
        self.hooks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no hook is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for TenantDeletedHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantDeletedHooks({})", self.len())
    }
}
