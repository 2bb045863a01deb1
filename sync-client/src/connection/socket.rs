//! The WebSocket adapter (feature `websocket`, default): a [`Connector`] that opens
//! `ws://`, or `wss://` through rustls (feature `rustls`, default), and maps tungstenite's
//! messages to [`Frame`]s. Nothing else of the client knows about tungstenite.

#[cfg(feature = "rustls")]
use std::sync::Arc;

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

use super::transport::{BoxError, Connecting, Connector, Frame, Transport};

/// An open connection.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to one URL with one token: the client's default connector.
#[derive(Debug, Clone)]
pub(crate) struct WebSocket {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
    pub(crate) tls: Tls,
}

impl Connector for WebSocket {
    fn connect(&self) -> Connecting {
        let this = self.clone();
        async move {
            let socket = connect(&this.url, this.token.as_deref(), &this.tls).await?;
            Ok(adapt(socket))
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

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// Connects to `url`, sending `token` as `Authorization: Bearer`. The error is a message
/// for people: the HTTP status and the server's `detail` when the upgrade was refused.
async fn connect(url: &str, token: Option<&str>, tls: &Tls) -> Result<Socket, String> {
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

fn describe(error: tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let detail = response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
                .and_then(|body| {
                    body.get("detail")
                        .and_then(|detail| detail.as_str())
                        .map(str::to_owned)
                });
            match detail {
                Some(detail) => format!("the server refused the connection: {status}: {detail}"),
                None => format!("the server refused the connection: {status}"),
            }
        }
        tungstenite::Error::Url(error) => format!("cannot connect: {error}"),
        other => format!("cannot connect: {other}"),
    }
}
