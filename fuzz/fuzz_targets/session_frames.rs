//! A real [`Session`] over channels, with a real SQLite store, fed a sequence of arbitrary
//! frames.
//!
//! The input is split into frames: a tag byte, then for a text frame a 2-byte little-endian
//! length and that many bytes (fewer at the end of the input), read as lossy UTF-8. Tag
//! `% 16`: 0 to 12 text, 13 binary, 14 activity (a ping or pong), 15 a frame over the size
//! limit. The session must never panic, must send `status: online` first, only JSON objects
//! as text, and a close only with a code of `session::close` as its last frame (1009, and
//! only after a frame over the limit); when the input ends without one it ends cleanly.
//!
//! The store, the engine and a current-thread runtime are made once per process. The
//! tenant's database (in /dev/shm when there is one) is deleted every `RESET_EVERY`
//! executions so the store stays small.

#![no_main]

use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use sync_core::engine::{self, Engine};
use sync_core::hub::Hub;
use sync_core::protocol::Limits;
use sync_core::session::{self, Inbound, Outbound, Session, close};
use sync_core::store::Store;
use sync_core::store::sqlite::{SqliteStore, Synchronous};
use sync_core::{Registry, Syncable, TenantId};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// Executions between two deletions of the tenant's database.
const RESET_EVERY: u64 = 2_000;

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
struct Account {
    #[sync(id)]
    id: String,
    name: String,
    balance: f64,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AccountGroup")]
struct AccountGroup {
    #[sync(id)]
    id: String,
    name: String,
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    updated_at: Option<DateTime<Utc>>,
}

struct Server {
    runtime: Runtime,
    engine: Engine<SqliteStore>,
    tenant: TenantId,
    shutdown: watch::Sender<bool>,
    config: session::Config,
    executions: Mutex<u64>,
    _dir: tempfile::TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        // SQLite's commits dominate an execution: keep the database in memory-backed
        // /dev/shm where there is one.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temp dir");
        let engine = runtime.block_on(async {
            let registry = Registry::builder()
                .entity::<Account>()
                .entity::<AccountGroup>()
                .build()
                .expect("a registry");
            let store = SqliteStore::builder(dir.path(), registry)
                .synchronous(Synchronous::Off)
                .open()
                .await
                .expect("a store");
            Engine::new(store, Hub::new(256), engine::Config::default())
        });
        Server {
            runtime,
            engine,
            tenant: TenantId::new("household").expect("a tenant id"),
            shutdown: watch::channel(false).0,
            config: session::Config {
                // Small enough that the fuzzer reaches them.
                wire: Limits {
                    max_message_bytes: 2048,
                    max_batch: 8,
                    ..Limits::default()
                },
                ..session::Config::default()
            },
            executions: Mutex::new(0),
            _dir: dir,
        }
    })
}

fn frames(mut data: &[u8]) -> Vec<Inbound> {
    let mut frames = Vec::new();
    while let Some((&tag, rest)) = data.split_first() {
        data = rest;
        frames.push(match tag % 16 {
            13 => Inbound::Binary,
            14 => Inbound::Activity,
            15 => Inbound::TooLarge,
            _ => {
                let length = match data {
                    [low, high, rest @ ..] => {
                        data = rest;
                        usize::from(u16::from_le_bytes([*low, *high]))
                    }
                    _ => std::mem::take(&mut data).len(),
                };
                let (text, rest) = data.split_at(length.min(data.len()));
                data = rest;
                Inbound::Text(String::from_utf8_lossy(text).into_owned())
            }
        });
    }
    frames
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    let frames = frames(data);
    let over_limit = frames.iter().position(|frame| match frame {
        Inbound::TooLarge => true,
        Inbound::Text(text) => text.len() > server.config.wire.max_message_bytes,
        _ => false,
    });
    let reset = {
        let mut executions = server.executions.lock().expect("not poisoned");
        *executions += 1;
        *executions % RESET_EVERY == 0
    };
    let sent: Vec<Outbound> = server.runtime.block_on(async {
        if reset {
            server
                .engine
                .store()
                .delete_tenant(&server.tenant)
                .await
                .expect("the tenant's database is deleted");
        }
        let (to_session, inbound) = mpsc::unbounded();
        let (outbound, from_session) = mpsc::unbounded();
        for frame in frames {
            to_session
                .unbounded_send(frame)
                .expect("the channel is open");
        }
        drop(to_session);
        let session = Session::new(
            server.engine.clone(),
            server.tenant.clone(),
            "fuzzer",
            server.config.clone(),
            server.shutdown.subscribe(),
        );
        session.run(inbound, outbound).await;
        from_session.collect().await
    });

    let last = sent.last().expect("the session sends status online");
    for (index, frame) in sent.iter().enumerate() {
        match frame {
            Outbound::Text(text) => {
                let json: serde_json::Value =
                    serde_json::from_str(text).expect("every text frame is JSON");
                assert!(json.is_object(), "a text frame is a JSON object: {text}");
                if index == 0 {
                    assert_eq!(json["type"], "status");
                    assert_eq!(json["status"], "online");
                }
            }
            Outbound::Close { code, .. } => {
                assert!(
                    [
                        close::NORMAL,
                        close::GOING_AWAY,
                        close::POLICY,
                        close::TOO_BIG,
                        close::TRY_AGAIN
                    ]
                    .contains(code),
                    "close code {code} is one of session::close"
                );
                assert_eq!(index, sent.len() - 1, "a close is the last frame");
            }
        }
    }
    assert!(
        matches!(sent[0], Outbound::Text(_)),
        "status online comes first"
    );
    match (over_limit, last) {
        (Some(_), Outbound::Close { code, .. }) => assert_eq!(*code, close::TOO_BIG),
        (Some(at), Outbound::Text(_)) => {
            panic!("frame {at} over the limit did not close the session")
        }
        (None, Outbound::Close { code, reason }) => {
            panic!("closed {code} ({reason}) without cause")
        }
        (None, Outbound::Text(_)) => {}
    }
});
