//! A TCP proxy on 127.0.0.1 in front of a service (PostgreSQL, NATS, a server), which a test
//! cuts, closing every connection and refusing new ones, to simulate an outage, then
//! restores.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy; it runs until the test's runtime ends.
pub struct Proxy {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Whether new connections are accepted, and how many cuts there were: a connection
    /// ends at the first cut after it opened, even when a restore follows at once.
    state: watch::Sender<State>,
}

#[derive(Clone, Copy)]
struct State {
    up: bool,
    cuts: u64,
}

impl Proxy {
    /// Forwards 127.0.0.1:`port` to `target` (`host:port`).
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = watch::channel(State { up: true, cuts: 0 }).0;
        let mut watched = state.subscribe();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let now = *watched.borrow_and_update();
                if !now.up {
                    continue;
                }
                let (target, mut watched) = (target.clone(), watched.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watched.wait_for(|state| state.cuts != now.cuts) => {}
                    }
                });
            }
        });
        Proxy { port, state }
    }

    /// `url` with its `host:port` replaced by the proxy's.
    pub fn url(&self, url: &str, host_port: &str) -> String {
        url.replacen(host_port, &format!("127.0.0.1:{}", self.port), 1)
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.state.send_modify(|state| {
            state.up = false;
            state.cuts += 1;
        });
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.state.send_modify(|state| state.up = true);
    }
}
