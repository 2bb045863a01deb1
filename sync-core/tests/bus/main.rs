//! Two server nodes on one database and a bus between them: every change reaches every
//! session once, in order, whichever node committed it. The NATS and NOTIFY tests need
//! `--features nats` / `--features postgres` and the services (SYNC_TEST_NATS_URL,
//! SYNC_TEST_DATABASE_URL); they fail, never skip, when a service is unreachable.

mod harness;
mod local;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "postgres")]
mod postgres;
mod scenarios;
mod server_writes;
