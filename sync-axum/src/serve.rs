//! [`serve`]: `axum::serve` with the limits a server facing the internet needs.
//!
//! Every stage before a request reaches the router has a deadline: the TLS handshake and
//! the request head ([`HttpLimits::header_read_timeout`], which also closes idle keep-alive
//! connections: hyper starts it whenever it waits for a next request), and the handler with
//! its request body ([`HttpLimits::request_timeout`], then 408). Open connections are
//! counted against a budget ([`HttpLimits::max_open_connections`], by default from the
//! process's file-descriptor limit, see [`FdBudget`]); one beyond it is answered 503 with
//! `Retry-After` and closed at once, so the process never runs out of descriptors and the
//! sessions it holds keep working.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::fd::FdBudget;

/// The HTTP-level limits of [`serve`], with their defaults.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open TCP connections, WebSocket sessions included; a connection beyond it gets 503
    /// with `Retry-After: 1` and is closed. Default [`FdBudget::connections`] of the
    /// process's limit.
    pub max_open_connections: usize,
    /// How long a client has to send a request head (the start of the connection, or the
    /// next request on a keep-alive connection); then the connection is closed. Default 10 s.
    pub header_read_timeout: Duration,
    /// How long the TLS handshake may take. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// How long a request, its body included, may take to be answered; then 408. A
    /// WebSocket upgrade is answered at once; the session's own timeouts follow. Default 30 s.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_open_connections: FdBudget::current().connections,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener`, with `TCP_NODELAY` (see [`no_delay`](crate::no_delay)),
/// the [`HttpLimits`] and, when given, TLS. Build it with [`serve`].
pub struct Serve {
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// Starts a [`Serve`] of `router` on `listener`: `sync_axum::serve(listener, router).await`
/// in place of `axum::serve(listener, router).await`.
pub fn serve(listener: TcpListener, router: Router) -> Serve {
    Serve {
        listener,
        router,
        limits: HttpLimits::default(),
        tls: None,
        shutdown: Box::pin(std::future::pending()),
    }
}

impl Serve {
    /// The limits. Default [`HttpLimits::default`].
    pub fn limits(mut self, limits: HttpLimits) -> Serve {
        self.limits = limits;
        self
    }

    /// Serves HTTPS (and so WSS) on the same port with `config` (see
    /// [`tls::server_config`](crate::tls::server_config) for PEM files).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Serve {
        self.tls = Some(tokio_rustls::TlsAcceptor::from(config));
        self
    }

    /// Stops accepting when `signal` resolves; open connections finish their requests.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Serve {
        self.shutdown = Box::pin(signal);
        self
    }

    /// Serves until the shutdown signal, then waits for open connections to end.
    ///
    /// # Errors
    ///
    /// Never at present: accept errors (e.g. out of descriptors) are logged and retried.
    pub async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            router,
            limits,
            tls,
            mut shutdown,
        } = self;
        let open = Arc::new(AtomicUsize::new(0));
        let (stop, stopping) = watch::channel(false);
        let limits = Arc::new(limits);
        tracing::info!(
            max_open_connections = limits.max_open_connections,
            tls = tls.is_some(),
            "serving"
        );
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let Some(slot) = Slot::take(&open, limits.max_open_connections) else {
                crate::metrics::refused_connection();
                tokio::spawn(refuse(stream));
                continue;
            };
            let connection = Connection {
                router: router.clone(),
                limits: limits.clone(),
                tls: tls.clone(),
                stopping: stopping.clone(),
            };
            tokio::spawn(async move {
                connection.serve(stream).await;
                drop(slot);
            });
        }
        stop.send_replace(true);
        drop(stopping);
        stop.closed().await;
        Ok(())
    }
}

impl std::future::IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

struct Connection {
    router: Router,
    limits: Arc<HttpLimits>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        match &self.tls {
            None => self.http(stream).await,
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                match tokio::time::timeout(self.limits.tls_handshake_timeout, handshake).await {
                    Ok(Ok(stream)) => self.http(stream).await,
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            }
        }
    }

    async fn http<I>(mut self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let request_timeout = self.limits.request_timeout;
        let router = self.router.clone();
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let answer = router.clone().oneshot(request.map(Body::new));
            async move {
                Ok::<_, Infallible>(match tokio::time::timeout(request_timeout, answer).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => timed_out(),
                })
            }
        });
        // HTTP/1.1 only: an HTTP/1-or-2 server first reads the protocol preface with no
        // deadline, which a client that sends nothing would hold open for ever.
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended");
                    }
                    return;
                }
                _ = self.stopping.wait_for(|stop| *stop) => {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

fn timed_out() -> Response {
    (StatusCode::REQUEST_TIMEOUT, "request timed out").into_response()
}

/// Answers a connection beyond the budget and closes it, without reading it.
async fn refuse(mut stream: TcpStream) {
    const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: text/plain\r\ncontent-length: 33\r\nconnection: close\r\n\r\ntoo many connections; retry later";
    let write = stream.write_all(REFUSAL);
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
    let _ = stream.shutdown().await;
}

/// One counted open connection; dropping it frees the slot.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (count < max).then_some(count + 1)
        })
        .ok()
        .map(|_| {
            crate::metrics::open_connections(1);
            Slot(open.clone())
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        crate::metrics::open_connections(-1);
    }
}
