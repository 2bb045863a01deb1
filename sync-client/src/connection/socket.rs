//! The WebSocket adapter (feature `websocket`, default): a [`Connector`] that opens
//! `ws://`, or `wss://` through rustls (feature `rustls`, default), and maps tungstenite's
//! messages to [`Frame`]s. Nothing else of the client knows about tungstenite.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
#[cfg(feature = "rustls")]
use tokio_tungstenite::Connector as TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

use super::transport::{BoxError, Connecting, Connector, Frame, Refused, Transport};
use crate::credentials::{Cause, TokenProvider};

/// An open connection.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to one URL with the token of a provider: the client's default connector.
#[derive(Clone)]
pub(crate) struct WebSocket {
    pub(crate) url: String,
    pub(crate) credentials: Option<Arc<dyn TokenProvider>>,
    pub(crate) tls: Tls,
    /// Whether the server refused the last attempt's token, so the next asks for a new one.
    pub(crate) refused: Arc<AtomicBool>,
}

impl Connector for WebSocket {
    fn connect(&self) -> Connecting {
        let this = self.clone();
        async move {
            let token = match &this.credentials {
                Some(provider) => {
                    let cause = if this.refused.swap(false, Ordering::AcqRel) {
                        Cause::Refused
                    } else {
                        Cause::Connect
                    };
                    let token = provider.token(cause).await.map_err(|error| {
                        BoxError::from(format!("the token provider failed: {error}"))
                    })?;
                    Some(token)
                }
                None => None,
            };
            match connect(&this.url, token.as_deref(), &this.tls).await {
                Ok(socket) => Ok(adapt(socket)),
                Err(error) => {
                    if error
                        .downcast_ref::<Refused>()
                        .is_some_and(Refused::is_credentials)
                    {
                        this.refused.store(true, Ordering::Release);
                    }
                    Err(error)
                }
            }
        }
        .boxed()
    }
}

/// The socket as frames: text and close frames pass, pings and pongs (answered by
/// tungstenite itself) and binary frames do not.
fn adapt(socket: Socket) -> Transport {
    let (sink, stream) = socket.split();
    let incoming = stream.filter_map(|message| async move {
        match message {
            Ok(Message::Text(text)) => Some(Ok(Frame::Text(text.as_str().to_owned()))),
            Ok(Message::Close(frame)) => Some(Ok(frame.map_or_else(
                || Frame::Close {
                    code: 1005,
                    reason: String::new(),
                },
                |frame| Frame::Close {
                    code: u16::from(frame.code),
                    reason: frame.reason.as_str().to_owned(),
                },
            ))),
            Ok(_) => None,
            Err(error) => Some(Err(BoxError::from(error))),
        }
    });
    let outgoing = sink.with(|frame: Frame| {
        futures::future::ready(Ok::<_, tungstenite::Error>(match frame {
            Frame::Text(text) => Message::text(text),
            Frame::Close { code, reason } => Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: Utf8Bytes::from(reason),
            })),
        }))
    });
    Transport::new(incoming, outgoing)
}

/// TLS settings for `wss://`.
#[derive(Clone, Default)]
pub(crate) struct Tls {
    #[cfg(feature = "rustls")]
    pub(crate) config: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// Connects to `url`, sending `token` as `Authorization: Bearer`. The error is a
/// [`Refused`] (the HTTP status and the server's `detail`) when the upgrade was refused,
/// else a message for people.
async fn connect(url: &str, token: Option<&str>, tls: &Tls) -> Result<Socket, BoxError> {
    let mut request = url
        .into_client_request()
        .map_err(|error| format!("invalid url {url}: {error}"))?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token holds characters a header cannot carry".to_owned())?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let (socket, _) = open(request, tls).await.map_err(describe)?;
    Ok(socket)
}

#[cfg(feature = "rustls")]
async fn open(
    request: tungstenite::handshake::client::Request,
    tls: &Tls,
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector(tls)).await
}

#[cfg(not(feature = "rustls"))]
async fn open(
    request: tungstenite::handshake::client::Request,
    _tls: &Tls,
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    // `wss://` URLs fail here with "TLS support not compiled in".
    tokio_tungstenite::connect_async_with_config(request, None, true).await
}

#[cfg(feature = "rustls")]
fn connector(tls: &Tls) -> Option<TlsConnector> {
    use std::sync::OnceLock;
    static DEFAULT: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    let config = tls.config.clone().or_else(|| {
        DEFAULT
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                // The ring provider explicitly: no process-wide default needs installing.
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|error| tracing::error!(%error, "rustls refused its own defaults"))
                .ok()?
                .with_root_certificates(roots)
                .with_no_client_auth();
                Some(Arc::new(config))
            })
            .clone()
    })?;
    Some(TlsConnector::Rustls(config))
}

fn describe(error: tungstenite::Error) -> BoxError {
    match error {
        tungstenite::Error::Http(response) => {
            let mut refused = Refused::new(response.status().as_u16());
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok());
            if let Some(seconds) = retry_after {
                refused = refused.with_retry_after(Duration::from_secs(seconds));
            }
            let detail = response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
                .and_then(|body| {
                    body.get("detail")
                        .and_then(|detail| detail.as_str())
                        .map(str::to_owned)
                });
            if let Some(detail) = detail {
                refused = refused.with_detail(detail);
            }
            BoxError::from(refused)
        }
        tungstenite::Error::Url(error) => format!("cannot connect: {error}").into(),
        other => format!("cannot connect: {other}").into(),
    }
}
