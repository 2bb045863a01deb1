//! The bus between server nodes: who committed what, so every node can deliver it.
//!
//! On a single node the [`Hub`](crate::hub::Hub) is all there is: the tenant's writer commits
//! and hands the encoded changes straight to the hub. With several server nodes on one
//! database, a change committed through node A must also reach the sessions connected to
//! node B. The bus carries only the fact: a [`Notice`] names the tenant, the sequence range
//! of a commit and the node that made it, never row data (PostgreSQL NOTIFY payloads are
//! limited to 8000 bytes, and a notice must never be the only copy of anything). The
//! receiving node reads the rows from the store's change feed, encodes each once, and hands
//! them to its own hub, in sequence order.
//!
//! Because the rows are always in the store, the bus may lose notices: a lost notice, a full
//! queue, or a bus outage delays delivery on the other nodes and never loses a change. Every
//! node also compares, periodically, each tenant's cursor in the store with what it has
//! delivered ([`Config::bus_check`](crate::engine::Config::bus_check)), so with the bus down
//! nodes keep committing and ACKing, and the other nodes' sessions get the changes late,
//! not never. Tenant deletion travels on the bus too, so every node closes that tenant's
//! sessions.
//!
//! Implementations:
//! - no bus ([`Engine::new`](crate::engine::Engine::new)): the in-process default, a single
//!   node, exactly as cheap as the hub alone;
//! - [`local::LocalBus`]: several engines in one process (tests, several servers in one
//!   binary);
//! - `nats::NatsBus` (feature `nats`): a NATS subject per tenant, `<prefix>.<tenant>`; the
//!   scale-out choice, a clustered messaging system made for this;
//! - `postgres::PostgresBus` (feature `postgres`): LISTEN/NOTIFY on one channel, no extra
//!   component; PostgreSQL serialises the commits of notifying transactions, so measure it
//!   before relying on it for many busy tenants (the `bus` benchmark does).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use sync_core::bus::local::LocalBus;
//! use sync_core::engine::{Config, Engine};
//! use sync_core::hub::Hub;
//! use sync_core::store::sqlite::SqliteStore;
//! use sync_core::Registry;
//!
//! // Two nodes on one database: each has its own hub, both share the bus.
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::builder(dir.path(), Registry::default()).open().await.unwrap();
//! let bus = Arc::new(LocalBus::new(1024));
//! let a = Engine::with_bus(store.clone(), Hub::new(256), Config::default(), bus.clone());
//! let b = Engine::with_bus(store, Hub::new(256), Config::default(), bus);
//! assert_ne!(a.node(), b.node());
//! # });
//! ```

pub mod local;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;

use std::fmt;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::error::{Error, Result};
use crate::tenant::TenantId;

/// Identifies one engine (one server node) on the bus; each engine draws its own at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> NodeId {
        NodeId(uuid::Uuid::new_v4().as_u64_pair().0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What happened in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Changes with sequence numbers `first..=last` were committed. Notices of several
    /// commits may be merged into one range; the range may include other nodes' commits.
    Committed {
        /// The first sequence number of the range.
        first: u64,
        /// The last sequence number of the range.
        last: u64,
    },
    /// The tenant was deleted: every node closes its sessions of it.
    TenantDeleted,
    /// A subject's access to the tenant changed (removed, or another role): every node
    /// closes that subject's sessions of it, found by their
    /// [`subject_key`](crate::hub::subject_key).
    AccessChanged {
        /// The subject's key.
        subject: u64,
    },
}

/// One message on the bus. Its text form, [`Notice::to_text`], is at most 128 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The node that sent it.
    pub node: NodeId,
    /// The tenant it concerns.
    pub tenant: TenantId,
    /// What happened.
    pub kind: NoticeKind,
}

impl Notice {
    /// The compact text form: `<node> c <first> <last> <tenant>`, `<node> d <tenant>` or
    /// `<node> a <subject key, hex> <tenant>`.
    pub fn to_text(&self) -> String {
        match self.kind {
            NoticeKind::Committed { first, last } => {
                format!("{} c {first} {last} {}", self.node, self.tenant)
            }
            NoticeKind::TenantDeleted => format!("{} d {}", self.node, self.tenant),
            NoticeKind::AccessChanged { subject } => {
                format!("{} a {subject:016x} {}", self.node, self.tenant)
            }
        }
    }

    /// Parses the text form; a clear error names what is wrong.
    pub fn parse(text: &str) -> Result<Notice> {
        let bad = |why: &str| Error::Bus(format!("malformed bus notice {text:?}: {why}"));
        let mut parts = text.split(' ');
        let node = parts
            .next()
            .and_then(|node| u64::from_str_radix(node, 16).ok())
            .ok_or_else(|| bad("the node id is not hexadecimal"))?;
        let kind = match parts.next() {
            Some("c") => {
                let mut number = || parts.next().and_then(|n| n.parse::<u64>().ok());
                let (Some(first), Some(last)) = (number(), number()) else {
                    return Err(bad("expected two sequence numbers"));
                };
                if first > last {
                    return Err(bad("the range is reversed"));
                }
                NoticeKind::Committed { first, last }
            }
            Some("d") => NoticeKind::TenantDeleted,
            Some("a") => {
                let subject = parts
                    .next()
                    .and_then(|key| u64::from_str_radix(key, 16).ok())
                    .ok_or_else(|| bad("the subject key is not hexadecimal"))?;
                NoticeKind::AccessChanged { subject }
            }
            _ => return Err(bad("the kind is not 'c', 'd' or 'a'")),
        };
        let tenant = parts.next().ok_or_else(|| bad("the tenant is missing"))?;
        let tenant = TenantId::new(tenant).map_err(|error| bad(&error.to_string()))?;
        if parts.next().is_some() {
            return Err(bad("trailing fields"));
        }
        Ok(Notice {
            node: NodeId(node),
            tenant,
            kind,
        })
    }
}

/// What a node receives from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Another node's notice (a bus may also echo the node's own; they are ignored).
    Notice(Notice),
    /// Notices may have been lost (the connection dropped and is back, or the receiver fell
    /// behind): every tenant catches up from the change feed.
    Resync,
}

/// Carries [`Notice`]s between the nodes of one deployment.
///
/// Contract, what the engine assumes:
/// - Delivery is at most once and best effort. A bus may lose notices, but after any loss
///   it can detect (a disconnect, a receiver that fell behind) its event stream yields
///   [`Event::Resync`] once it receives again, i.e. after re-subscribing, so nothing
///   committed after the resync is missed.
/// - Notices of one sender to one tenant arrive in the order sent; across senders there is
///   no order. The engine never relies on either: it reads the change feed.
/// - [`Bus::send`] may be slow or fail; the engine calls it from its own publisher task,
///   never from a writer, with a timeout, and drops what fails (the feed catches up).
/// - The stream of [`Bus::listen`] ends only when the bus can no longer receive; the
///   engine then calls `listen` again after a pause.
pub trait Bus: Send + Sync + 'static {
    /// Sends `notices` to every node, the sender possibly included.
    fn send<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, Result<()>>;

    /// Starts receiving: every node's notices, and [`Event::Resync`] after possible loss.
    fn listen(&self) -> BoxFuture<'_, Result<BoxStream<'static, Event>>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_text() {
        let tenant = TenantId::new("tenant_A-1").unwrap();
        for kind in [
            NoticeKind::Committed {
                first: 1,
                last: u64::MAX,
            },
            NoticeKind::TenantDeleted,
            NoticeKind::AccessChanged { subject: u64::MAX },
        ] {
            let notice = Notice {
                node: NodeId(u64::MAX),
                tenant: tenant.clone(),
                kind,
            };
            assert_eq!(Notice::parse(&notice.to_text()).unwrap(), notice);
        }
        for kind in [
            NoticeKind::Committed {
                first: u64::MAX,
                last: u64::MAX,
            },
            NoticeKind::AccessChanged { subject: u64::MAX },
        ] {
            let longest = Notice {
                node: NodeId(u64::MAX),
                tenant: TenantId::new("x".repeat(64)).unwrap(),
                kind,
            };
            assert!(longest.to_text().len() <= 128);
        }
    }

    #[test]
    fn malformed_notices_are_refused_with_a_reason() {
        for (text, why) in [
            ("zz c 1 2 t", "hexadecimal"),
            ("01 c 2 1 t", "reversed"),
            ("01 c 1 t", "two sequence numbers"),
            ("01 x t", "is not 'c', 'd' or 'a'"),
            ("01 a zz t", "subject key"),
            ("01 a t", "subject key"),
            ("01 d", "missing"),
            ("01 d t extra", "trailing"),
            ("01 d bad/tenant", "tenant"),
        ] {
            let error = Notice::parse(text).unwrap_err().to_string();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}
