//! Two server nodes on one database and a bus between them: every change reaches every
//! session once, in order, whichever node committed it. The NATS and NOTIFY tests need
//! `--features nats` / `--features postgres` and the services (SYNC_TEST_NATS_URL,
//! SYNC_TEST_DATABASE_URL); they fail, never skip, when a service is unreachable. With
//! `postgres`, every scenario also runs with both nodes on one `PostgresStore`.

/// The scenarios of [`scenarios`] as tests, over the buses `$pair().await` returns, once
/// per store.
macro_rules! scenario_tests {
    ($pair:path) => {
        mod sqlite_store {
            scenario_tests!(@tests $pair, crate::harness::Backend::Sqlite);
        }
        #[cfg(feature = "postgres")]
        mod postgres_store {
            scenario_tests!(@tests $pair, crate::harness::Backend::Postgres);
        }
    };
    (@tests $pair:path, $backend:expr) => {
        scenario_tests!(@one $pair, $backend, a_change_reaches_the_other_node_once);
        scenario_tests!(@one $pair, $backend, interleaved_commits_arrive_in_order_everywhere);
        scenario_tests!(@one $pair, $backend, a_lost_notice_is_caught_up);
        scenario_tests!(@one $pair, $backend, the_periodic_check_delivers_without_notices);
        scenario_tests!(@one $pair, $backend, a_tenant_deletion_closes_sessions_everywhere);
        scenario_tests!(@one $pair, $backend, an_access_change_closes_the_subjects_sessions_everywhere);
    };
    (@one $pair:path, $backend:expr, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (a, b) = $pair().await;
            crate::scenarios::$name($backend, a, b).await;
        }
    };
}

mod harness;
mod local;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "postgres")]
mod postgres;
mod scenarios;
mod server_writes;
