//! The limits a server holds every connection to, with their defaults.
//!
//! What a session enforces (the limits announced in `welcome`, in-flight changes, pings and
//! the idle timeout) is [`session::Config`], held here whole rather than repeated; the rest
//! is what the socket layer enforces.

use std::time::Duration;

use sync_core::session;

/// Connection limits. Nothing a client sends can grow the server's memory beyond these.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent WebSocket connections; above it upgrades get 503. Default 10,000.
    pub max_connections: usize,
    /// What each session enforces: `session.wire` holds the limits announced in `welcome`
    /// (`max_message_bytes`: a larger message closes the connection with 1009, 1 MiB;
    /// `max_batch`: a larger batch is NACKed `too_large`, 500), `max_in_flight` the changes a
    /// connection has in flight to its tenant's writer (64), and the ping interval (30 s)
    /// and idle timeout (120 s). Default [`session::Config::default`].
    pub session: session::Config,
    /// Undelivered broadcasts per connection; a connection that falls further behind is
    /// closed with 1013 and catches up on reconnect. Default 1024.
    pub outbound_queue: usize,
    /// The same bound in bytes: broadcasts of 100 KB reach it after 40. Default 4 MiB
    /// ([`sync_core::hub::DEFAULT_QUEUE_BYTES`]).
    pub outbound_queue_bytes: usize,
    /// How long a send to a client may make no progress before the connection is closed
    /// with 1013 and its memory released (a client that does not read). Default 30 s
    /// (see [`sync_core::session::Config::send_timeout`]).
    pub send_timeout: Duration,
    /// The initial read buffer of a connection. The WebSocket library's default is 128 KiB,
    /// allocated for every connection; this one holds a typical message (a few hundred
    /// bytes) and grows only for a larger one, up to `max_message_bytes`. It is most of
    /// what an idle connection costs. Default 1 KiB.
    pub read_buffer_bytes: usize,
    /// How many bytes of outgoing frames a connection buffers before it writes them to the
    /// socket. The buffer grows only while there is traffic. Default 4 KiB.
    pub write_buffer_bytes: usize,
    /// How long a new session waits for the client's first frame (any frame, a ping
    /// included) before it closes the connection. Default 30 s.
    pub first_message_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            session: session::Config::default(),
            outbound_queue: 1024,
            outbound_queue_bytes: sync_core::hub::DEFAULT_QUEUE_BYTES,
            send_timeout: Duration::from_secs(30),
            read_buffer_bytes: 1 << 10,
            write_buffer_bytes: 4 << 10,
            first_message_timeout: Duration::from_secs(30),
        }
    }
}
