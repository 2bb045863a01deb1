//! Opening what a [`Backend`] names: the store, the auth database, the JWT secret and the
//! bus, with an error that names the URL (password masked) when a service cannot be
//! reached.

use std::path::Path;
use std::sync::Arc;

use sync_core::bus::nats::NatsBus;
use sync_core::bus::postgres::PostgresBus;
use sync_core::store::AnyStore;
use sync_core::store::postgres::PostgresStore;
use sync_core::store::sqlite::SqliteStore;

use crate::backend::{Backend, Bus, mask_password};
use crate::config::Config;
use crate::db::{AUTH_DB_FILE, AuthDb};
use crate::error::{Error, Result};
use crate::secret;

/// What the server runs on.
pub(crate) struct Opened {
    pub(crate) store: AnyStore,
    pub(crate) auth_db: AuthDb,
    pub(crate) secret: Vec<u8>,
    pub(crate) bus: Option<Arc<dyn sync_core::bus::Bus>>,
}

/// Opens `backend` as `config` asks, with the entities of `registry`.
pub(crate) async fn open(
    config: &Config,
    backend: &Backend,
    registry: sync_core::Registry,
) -> Result<Opened> {
    match backend {
        Backend::Sqlite { data_dir } => sqlite(config, data_dir, registry).await,
        Backend::Postgres { url, schema, bus } => {
            postgres(config, url, schema.as_deref(), bus, registry).await
        }
    }
}

/// `auth.db`, `jwt-secret` and one database per tenant under `data_dir`; no bus.
async fn sqlite(config: &Config, data_dir: &Path, registry: sync_core::Registry) -> Result<Opened> {
    tokio::fs::create_dir_all(data_dir)
        .await
        .map_err(|source| Error::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
    let auth_db = AuthDb::open(&data_dir.join(AUTH_DB_FILE)).await?;
    let secret = secret::load_or_generate(config.jwt_secret.as_deref(), data_dir)?;
    let max_open_tenants = config
        .max_open_tenants
        .unwrap_or_else(|| crate::config::max_open_tenants(&sync_axum::FdBudget::current()));
    tracing::info!(
        max_open_tenants,
        fds_per_tenant = crate::config::FDS_PER_TENANT,
        "open-tenant cache"
    );
    let store = SqliteStore::builder(data_dir, registry)
        .max_open_tenants(max_open_tenants)
        .max_readers(crate::config::TENANT_READERS)
        .open()
        .await?;
    Ok(Opened {
        store: store.into(),
        auth_db,
        secret,
        bus: None,
    })
}

/// The store's tables and the auth tables in one PostgreSQL database (in `schema` when
/// given), the secret shared through it, and the bus `bus` names.
async fn postgres(
    config: &Config,
    url: &str,
    schema: Option<&str>,
    bus: &Bus,
    registry: sync_core::Registry,
) -> Result<Opened> {
    let mut builder =
        PostgresStore::builder(url, registry).max_connections(config.database_max_connections);
    if let Some(schema) = schema {
        builder = builder.schema(schema);
    }
    let store = builder.connect().await.map_err(|error| match error {
        sync_core::Error::Connect { url, source } => Error::Connect {
            service: "PostgreSQL",
            url,
            reason: source.to_string(),
        },
        other => Error::Store(other),
    })?;
    let auth_db = AuthDb::postgres(store.pool().clone()).await?;
    let secret = secret::load_or_share(config.jwt_secret.as_deref(), store.pool()).await?;
    let bus_kind = match bus {
        Bus::Notify => "PostgreSQL LISTEN/NOTIFY",
        Bus::Nats(_) => "NATS",
    };
    let bus: Arc<dyn sync_core::bus::Bus> = match bus {
        Bus::Notify => {
            let bus = PostgresBus::connect(url)
                .await
                .map_err(|error| unreachable("PostgreSQL", url, &error))?
                .channel(&notify_channel(schema))?;
            Arc::new(bus)
        }
        Bus::Nats(nats) => Arc::new(
            NatsBus::connect(nats, &nats_prefix(schema))
                .await
                .map_err(|error| unreachable("NATS", nats, &error))?,
        ),
    };
    tracing::info!(
        database = %mask_password(url),
        schema = schema.unwrap_or("(default)"),
        bus = bus_kind,
        "using PostgreSQL"
    );
    Ok(Opened {
        store: store.into(),
        auth_db,
        secret,
        bus: Some(bus),
    })
}

/// The LISTEN/NOTIFY channel of a deployment: one per schema, so deployments sharing a
/// database in different schemas do not hear each other. At most 63 bytes.
fn notify_channel(schema: Option<&str>) -> String {
    let mut channel = match schema {
        Some(schema) => format!("finwise_{schema}"),
        None => "finwise".to_owned(),
    };
    channel.truncate(63);
    channel
}

/// The NATS subject prefix of a deployment: one per schema, like [`notify_channel`].
fn nats_prefix(schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("finwise.{schema}"),
        None => "finwise".to_owned(),
    }
}

/// [`Error::Connect`] for `service` at `url`, with the password masked in the reason too.
fn unreachable(service: &'static str, url: &str, error: &sync_core::Error) -> Error {
    let masked = mask_password(url);
    Error::Connect {
        service,
        reason: error.to_string().replace(url, &masked),
        url: masked,
    }
}
