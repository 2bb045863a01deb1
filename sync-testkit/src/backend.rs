//! One store test-suite for every backend (feature `postgres`): a [`Fixture`] opens a store of the chosen
//! [`Backend`] in a fresh location (a temporary directory, or a fresh PostgreSQL schema
//! dropped at the end), and [`store_tests!`](crate::store_tests) turns each `async fn name(fixture: Fixture)`
//! into the tests `sqlite::name` and `postgres::name`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sync_core::store::AnyStore;
use sync_core::store::postgres::{PostgresStore, mask_password};
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Error, Registry};

pub use crate::database_url;

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A `SqliteStore` in a temporary directory.
    Sqlite,
    /// A `PostgresStore` in a fresh schema of [`database_url`].
    Postgres,
}

enum Location {
    Dir(tempfile::TempDir),
    Schema(String),
}

/// A fresh place for a store, and the store opened there with the common registry.
#[derive(Clone)]
pub struct Fixture {
    /// The backend.
    pub backend: Backend,
    /// The store, open.
    pub store: AnyStore,
    location: Arc<Location>,
}

impl Fixture {
    /// A fresh location with a store of `registry`.
    pub async fn new(backend: Backend, registry: Registry) -> Fixture {
        let location = Arc::new(match backend {
            Backend::Sqlite => Location::Dir(tempfile::tempdir().unwrap()),
            Backend::Postgres => {
                Location::Schema(format!("sync_test_{}", uuid::Uuid::new_v4().simple()))
            }
        });
        let store = match &*location {
            Location::Dir(_) => open_sqlite(&location, registry).await.into(),
            Location::Schema(schema) => postgres(registry, schema, |builder| builder)
                .await
                .unwrap()
                .into(),
        };
        Fixture {
            backend,
            store,
            location,
        }
    }

    /// Another store of `registry` in the same location (the same directory or schema),
    /// as a restarted server or a second node opens it.
    pub async fn open(&self, registry: Registry) -> Result<AnyStore, Error> {
        match &*self.location {
            Location::Dir(_) => Ok(open_sqlite(&self.location, registry).await.into()),
            Location::Schema(schema) => {
                Ok(postgres(registry, schema, |builder| builder).await?.into())
            }
        }
    }

    /// Another store of the common registry in the same location, keeping tombstones for
    /// `retention`.
    pub async fn open_with_retention(&self, retention: Option<Duration>) -> AnyStore {
        match &*self.location {
            Location::Dir(dir) => SqliteStore::builder(dir.path(), crate::entities::registry())
                .synchronous(Synchronous::Off)
                .tombstone_retention(retention)
                .open()
                .await
                .unwrap()
                .into(),
            Location::Schema(schema) => postgres(crate::entities::registry(), schema, |builder| {
                builder.tombstone_retention(retention)
            })
            .await
            .unwrap()
            .into(),
        }
    }

    /// The PostgreSQL schema of this fixture.
    pub fn schema(&self) -> Option<&str> {
        match &*self.location {
            Location::Schema(schema) => Some(schema),
            Location::Dir(_) => None,
        }
    }

    /// Drops the fixture's PostgreSQL schema, if it has one.
    pub async fn clean_up(&self) {
        if let Location::Schema(schema) = &*self.location {
            let AnyStore::Postgres(store) = &self.store else {
                return;
            };
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            if let Err(error) = sqlx::query(&drop).execute(store.pool()).await {
                eprintln!("could not drop test schema {schema}: {error}");
            }
        }
    }
}

async fn open_sqlite(location: &Location, registry: Registry) -> SqliteStore {
    let Location::Dir(dir) = location else {
        unreachable!("a SQLite fixture has a directory")
    };
    // `Synchronous::Off`: durability is not what these tests test.
    SqliteStore::builder(dir.path(), registry)
        .synchronous(Synchronous::Off)
        .open()
        .await
        .unwrap()
}

/// A PostgreSQL store of `registry` in `schema` with a small pool, configured further by
/// `configure`. An unreachable server fails the test, naming the URL.
pub async fn postgres(
    registry: Registry,
    schema: &str,
    configure: impl FnOnce(sync_core::store::postgres::Builder) -> sync_core::store::postgres::Builder,
) -> Result<PostgresStore, Error> {
    let url = database_url();
    let builder = PostgresStore::builder(&url, registry)
        .schema(schema)
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(10));
    match configure(builder).connect().await {
        Err(Error::Connect { source, .. }) => panic!(
            "PostgreSQL at {} (SYNC_TEST_DATABASE_URL) is unreachable: {source}; start PostgreSQL, or point SYNC_TEST_DATABASE_URL at one",
            mask_password(&url)
        ),
        other => other,
    }
}

/// Runs `test` against a fresh fixture of `backend`, then drops its schema, also when the
/// test panics (the panic is then resumed).
pub async fn run<F, Fut>(backend: Backend, registry: Registry, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fixture = Fixture::new(backend, registry).await;
    let outcome = tokio::spawn(test(fixture.clone())).await;
    fixture.clean_up().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// `store_tests! { async fn name(fixture: Fixture) { ... } ... }`: each function once per
/// backend, as the tests `sqlite::name` and `postgres::name`, with a fixture of
/// [`entities::registry`](crate::entities::registry), or of `registry = expr;` given first.
#[macro_export]
macro_rules! store_tests {
    (registry = $registry:expr; $($(#[$meta:meta])* async fn $name:ident($fixture:ident: Fixture) $body:block)*) => {
        $($(#[$meta])* async fn $name($fixture: $crate::backend::Fixture) $body)*

        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::backend::run($crate::backend::Backend::Sqlite, $registry, super::$name).await;
            })*
        }

        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::backend::run($crate::backend::Backend::Postgres, $registry, super::$name).await;
            })*
        }
    };
    ($($tests:tt)*) => {
        $crate::store_tests!(registry = $crate::entities::registry(); $($tests)*);
    };
}
