//! An in-process bus: several engines in one process, e.g. tests or several servers in one
//! binary.
//!
//! Notices go through a bounded broadcast channel; a node that falls more than its capacity
//! behind gets [`Event::Resync`] and catches up from the feed, so memory stays bounded.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::StreamExt;
//! use sync_core::bus::local::LocalBus;
//! use sync_core::bus::{Bus, Event, NodeId, Notice, NoticeKind};
//! use sync_core::TenantId;
//!
//! let bus = LocalBus::new(16);
//! let mut events = bus.listen().await.unwrap();
//! let notice = Notice {
//!     node: NodeId(1),
//!     tenant: TenantId::new("t").unwrap(),
//!     kind: NoticeKind::Committed { first: 1, last: 3 },
//! };
//! bus.send(std::slice::from_ref(&notice)).await.unwrap();
//! assert_eq!(events.next().await, Some(Event::Notice(notice)));
//! # });
//! ```

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::sync::broadcast;

use super::{Bus, Event, Notice};
use crate::error::Result;

/// A bus within one process. Clones share the channel.
#[derive(Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Notice>,
}

impl LocalBus {
    /// A bus whose listeners may each lag `capacity` notices before they must resync.
    pub fn new(capacity: usize) -> LocalBus {
        LocalBus {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Bus for LocalBus {
    fn send<'a>(&'a self, notices: &'a [Notice]) -> BoxFuture<'a, Result<()>> {
        for notice in notices {
            // No listener is no error: there is simply no other node yet.
            let _ = self.sender.send(notice.clone());
        }
        futures::future::ready(Ok(())).boxed()
    }

    fn listen(&self) -> BoxFuture<'_, Result<BoxStream<'static, Event>>> {
        let receiver = self.sender.subscribe();
        let events = futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(notice) => Some((Event::Notice(notice), receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((Event::Resync, receiver)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        futures::future::ready(Ok(events.boxed())).boxed()
    }
}
