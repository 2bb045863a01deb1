//! A TCP proxy on 127.0.0.1:0 in front of a service, which a test cuts (closing every
//! connection and refusing new ones) to simulate an outage, then restores.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy; it runs until the test's runtime ends.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    /// Forwards 127.0.0.1:`port` to `target` (`host:port`).
    pub(crate) async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = watch::channel(true).0;
        let state = up.subscribe();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*state.borrow() {
                    continue;
                }
                let (target, mut state) = (target.clone(), state.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { port, up }
    }

    /// Closes every connection and refuses new ones.
    pub(crate) fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Accepts connections again.
    pub(crate) fn restore(&self) {
        self.up.send_replace(true);
    }
}
