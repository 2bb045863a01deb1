//! A listener for sync servers: replies are small and latency-bound.

use std::net::SocketAddr;

use axum::serve::{Listener, ListenerExt};
use tokio::net::{TcpListener, TcpStream};

/// Sets `TCP_NODELAY` on every connection `listener` accepts. Sync messages are small, and
/// with Nagle's algorithm a reply can wait for the peer's delayed ACK: measured here, that
/// raised the ACK p99 from about 5 ms to 46 ms (see `docs/performance.md`). Use it with
/// `axum::serve(sync_axum::no_delay(listener), router)`.
pub fn no_delay(listener: TcpListener) -> impl Listener<Io = TcpStream, Addr = SocketAddr> {
    listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    })
}
