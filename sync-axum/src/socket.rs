//! axum's WebSocket as the `Stream`/`Sink` pair a `sync_core` session runs over.

use std::future::ready;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{Sink, SinkExt, Stream, StreamExt};
use sync_core::session::{Inbound, Outbound};

/// Splits `socket` into session frames: inbound ends at a close frame or a read error; a
/// message over the size limit becomes [`Inbound::TooLarge`].
pub(crate) fn split(
    socket: WebSocket,
) -> (
    impl Stream<Item = Inbound> + Unpin + Send,
    impl Sink<Outbound> + Unpin + Send,
) {
    let (sink, stream) = socket.split();
    let inbound = stream
        .map(|frame| match frame {
            Ok(Message::Text(text)) => Some(Inbound::Text(text.as_str().to_owned())),
            Ok(Message::Binary(_)) => Some(Inbound::Binary),
            Ok(Message::Ping(_) | Message::Pong(_)) => Some(Inbound::Activity),
            Ok(Message::Close(_)) => None,
            Err(error) if is_too_large(&error) => Some(Inbound::TooLarge),
            Err(error) => {
                tracing::debug!(%error, "connection read failed");
                None
            }
        })
        .take_while(|frame| ready(frame.is_some()))
        .filter_map(ready);
    let outbound = sink.with(|frame: Outbound| {
        ready(Ok::<_, axum::Error>(match frame {
            Outbound::Text(text) => Message::Text(Utf8Bytes::from(&*text)),
            Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            })),
        }))
    });
    (Box::pin(inbound), Box::pin(outbound))
}

/// Whether a read failed because a message exceeded the size limit.
fn is_too_large(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("too long") || text.contains("Space limit exceeded")
}
