//! The NATS bus, against SYNC_TEST_NATS_URL (default nats://127.0.0.1:4222).

use std::sync::Arc;
use std::time::Duration;

use sync_core::bus::Bus;
use sync_core::bus::nats::NatsBus;

use crate::harness::{Backend, Proxy, unique};
use crate::scenarios;

fn url() -> String {
    std::env::var("SYNC_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

async fn connect(url: &str, prefix: &str) -> Arc<dyn Bus> {
    let options = async_nats::ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connection_timeout(Duration::from_secs(2));
    match NatsBus::connect_with(options, url, prefix).await {
        Ok(bus) => Arc::new(bus),
        Err(error) => panic!(
            "NATS is unreachable at {url} ({error}); start it with `nats-server -js` or set SYNC_TEST_NATS_URL"
        ),
    }
}

/// Two nodes, each with its own connection, on a subject prefix of their own.
pub(crate) async fn pair() -> (Arc<dyn Bus>, Arc<dyn Bus>) {
    let prefix = unique("sync");
    (
        connect(&url(), &prefix).await,
        connect(&url(), &prefix).await,
    )
}

scenario_tests!(crate::nats::pair);

async fn outage(backend: Backend) {
    let url = url();
    let target = url.trim_start_matches("nats://").to_owned();
    let proxy = Proxy::start(target).await;
    let proxied = format!("nats://127.0.0.1:{}", proxy.port);
    let prefix = unique("sync");
    let a = connect(&proxied, &prefix).await;
    let b = connect(&proxied, &prefix).await;
    scenarios::a_bus_outage_keeps_acks_and_is_caught_up(backend, a, b, &proxy).await;
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
