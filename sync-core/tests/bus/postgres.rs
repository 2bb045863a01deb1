//! The LISTEN/NOTIFY bus, against SYNC_TEST_DATABASE_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres). Each test uses a channel of its own; the
//! bus creates no tables, so there is no schema to drop.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sync_core::bus::Bus;
use sync_core::bus::postgres::PostgresBus;

use crate::harness::{Backend, Proxy, unique};
use crate::scenarios;

fn url() -> String {
    std::env::var("SYNC_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn connect(options: PgConnectOptions, channel: &str) -> Arc<dyn Bus> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(options)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is unreachable at {} ({error}); start it or set SYNC_TEST_DATABASE_URL",
                url()
            )
        });
    Arc::new(PostgresBus::new(pool).channel(channel).unwrap())
}

pub(crate) async fn pair() -> (Arc<dyn Bus>, Arc<dyn Bus>) {
    let options = PgConnectOptions::from_str(&url()).expect("SYNC_TEST_DATABASE_URL is a URL");
    let channel = unique("sync");
    (
        connect(options.clone(), &channel).await,
        connect(options, &channel).await,
    )
}

scenario_tests!(crate::postgres::pair);

async fn outage(backend: Backend) {
    let options = PgConnectOptions::from_str(&url()).expect("SYNC_TEST_DATABASE_URL is a URL");
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = Proxy::start(target).await;
    let proxied = options.host("127.0.0.1").port(proxy.port);
    let channel = unique("sync");
    let a = connect(proxied.clone(), &channel).await;
    let b = connect(proxied, &channel).await;
    scenarios::a_bus_outage_keeps_acks_and_is_caught_up(backend, a, b, &proxy).await;
}

#[tokio::test]
async fn channel_names_are_checked() {
    let pool = PgPoolOptions::new().connect_lazy(&url()).unwrap();
    for bad in ["", "Upper", "with-dash", "semi;colon"] {
        let error = PostgresBus::new(pool.clone()).channel(bad).err().unwrap();
        assert!(
            error.to_string().contains("invalid NOTIFY channel"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_outage_keeps_acks_and_is_caught_up() {
    outage(Backend::Sqlite).await;
}

/// The bus is cut, the store is not: ACKs flow, and node B catches up from PostgreSQL.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_outage_on_one_postgres_store() {
    outage(Backend::Postgres).await;
}
