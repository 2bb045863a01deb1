//! The messages the client sends and reads: [`sync_core::protocol`]'s typed messages, the
//! same types the server writes and reads. Reading is lenient where the protocol is:
//! unknown fields are ignored, and a frame that does not decode (not JSON, an unknown
//! type, fields of the wrong shape) is logged and ignored.

use sync_core::protocol::{self, ClientMessage, Entry, ServerMessage};
use sync_core::version::Version;

/// Reads a text frame; `None` for a frame the client ignores.
pub(crate) fn decode(text: &str) -> Option<ServerMessage> {
    match ServerMessage::decode(text) {
        Ok(message) => Some(message),
        Err(protocol::DecodeError::UnknownType(message_type)) => {
            tracing::debug!(%message_type, "ignored a message of a type the client does not know");
            None
        }
        Err(error) => {
            tracing::warn!(%error, frame = %truncate(text), "ignored a frame the client could not read");
            None
        }
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

/// `hello`.
pub(crate) fn hello(client_id: &str, cursor: u64) -> String {
    ClientMessage::Hello {
        client_id: Some(client_id.to_owned()),
        protocol: Some(protocol::PROTOCOL_VERSION),
        cursor: Some(cursor),
    }
    .to_text()
}

/// `process_sync_batch`.
pub(crate) fn batch(entries: Vec<Entry>) -> String {
    ClientMessage::ProcessSyncBatch { entries }.to_text()
}

/// `request_changes`.
pub(crate) fn request_changes(since: u64, limit: usize) -> String {
    ClientMessage::RequestChanges {
        since,
        limit: Some(limit),
    }
    .to_text()
}

/// `subscribe`: a subscription with what the replica holds of it.
pub(crate) fn subscribe(
    id: &str,
    stream: &str,
    keys: &[String],
    definition: Option<&str>,
    cursor: Option<u64>,
    buckets: Vec<String>,
) -> String {
    ClientMessage::Subscribe {
        id: id.to_owned(),
        stream: stream.to_owned(),
        parameters: keys.to_vec(),
        definition: definition.map(str::to_owned),
        cursor,
        buckets,
    }
    .to_text()
}

/// `unsubscribe`.
pub(crate) fn unsubscribe(id: &str, ttl_secs: u64) -> String {
    ClientMessage::Unsubscribe {
        id: id.to_owned(),
        ttl_secs: Some(ttl_secs),
    }
    .to_text()
}

/// The client's keep-alive `ping`.
pub(crate) fn ping() -> String {
    ClientMessage::Ping {
        timestamp: Version::now().as_millis().into(),
    }
    .to_text()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::protocol::{AckOutcome, OutcomeKind};

    #[test]
    fn reads_what_the_server_sends() {
        let ack = decode(
            r#"{"type":"sync_ack","id":"e1","status":"processed","entityId":"a1","entityType":"Account",
                "operationType":"update","outcome":"superseded","updated_at":"2026-03-01T08:00:00.000Z","cursor":42,
                "data":{"id":"a1","name":"Giro","updated_at":"2026-03-01T08:00:00.000Z"},"seq":40,"deleted":false}"#,
        );
        let Some(ServerMessage::Ack(ack)) = ack else {
            panic!("{ack:?}")
        };
        assert_eq!((ack.id.as_str(), ack.cursor), ("e1", Some(42)));
        let AckOutcome::Other { kind, state } = ack.outcome() else {
            panic!("{ack:?}")
        };
        assert_eq!(kind, OutcomeKind::Superseded);
        assert_eq!(state.data["name"], "Giro");
        assert_eq!((state.seq, state.deleted), (Some(40), false));

        let nack =
            decode(r#"{"type":"sync_nack","id":"e2","reason":"overloaded","detail":"busy"}"#);
        let Some(ServerMessage::Nack(nack)) = nack else {
            panic!("{nack:?}")
        };
        assert!(nack.retryable(), "without `retryable` the reason decides");
        let newer = decode(
            r#"{"type":"sync_nack","id":"e3","reason":"quota_exceeded","detail":"","retryable":true}"#,
        );
        let Some(ServerMessage::Nack(newer)) = newer else {
            panic!("{newer:?}")
        };
        assert!(
            newer.retryable(),
            "a reason this client does not know: the flag decides"
        );

        let update = decode(
            r#"{"event_type":"data_update","tenant_id":"t","entity_type":"Account","operation_type":"DELETE",
                "data":{"single_entity":{"id":"a1","updated_at":"2026-03-01T08:00:00.000Z"}},"cursor":43}"#,
        );
        let Some(ServerMessage::DataUpdate(update)) = update else {
            panic!("{update:?}")
        };
        assert_eq!(update.operation_type, protocol::Operation::Delete);
        assert_eq!(update.cursor, 43);

        let welcome = decode(
            r#"{"type":"welcome","server_time":5,"cursor":7,"protocol":1,"limits":{"max_batch":100,"max_page":0}}"#,
        );
        let Some(ServerMessage::Welcome(welcome)) = welcome else {
            panic!("{welcome:?}")
        };
        let limits = welcome.limits.or_defaults();
        assert_eq!(
            (
                welcome.server_time,
                welcome.cursor,
                limits.max_batch,
                limits.max_page
            ),
            (5, 7, 100, 10_000)
        );
    }

    #[test]
    fn ignores_what_it_cannot_read() {
        for frame in [
            "not json",
            r#"{"type":"launch"}"#,
            r#"{"what":1}"#,
            "[]",
            r#"{"type":"changes","changes":"many"}"#,
        ] {
            assert_eq!(decode(frame), None, "{frame}");
        }
    }

    #[test]
    fn writes_what_the_server_reads() {
        for text in [
            hello("c1", 7),
            batch(vec![Entry::default()]),
            request_changes(3, 100),
            subscribe(
                "s1",
                "by_account",
                &["A".to_owned()],
                Some("d"),
                Some(4),
                vec!["A".to_owned()],
            ),
            unsubscribe("s1", 30),
            ping(),
        ] {
            assert!(ClientMessage::decode(&text).is_ok(), "{text}");
        }
        assert_eq!(
            hello("c1", 7),
            r#"{"type":"hello","client_id":"c1","protocol":1,"cursor":7}"#
        );
    }
}
