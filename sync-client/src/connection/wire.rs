//! The messages the client sends and reads, in the shapes of PROTOCOL.md. Reading is
//! lenient: unknown messages and fields are ignored, missing optional fields take the
//! meaning PROTOCOL.md gives them.

use serde_json::{Value as Json, json};
use sync_core::version::Version;

use crate::replica::settle::{AckOutcome, Answer};

/// The limits the server announced in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_message_bytes: usize,
    pub(crate) max_batch: usize,
    pub(crate) max_page: usize,
}

impl Default for Limits {
    /// The server defaults, assumed until `welcome` says otherwise.
    fn default() -> Limits {
        let shared = sync_core::protocol::Limits::default();
        Limits {
            max_message_bytes: shared.max_message_bytes,
            max_batch: shared.max_batch,
            max_page: shared.max_page,
        }
    }
}

/// One change of a `changes` page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeedChange {
    pub(crate) entity_type: String,
    pub(crate) deleted: bool,
    pub(crate) data: Json,
    pub(crate) seq: u64,
}

/// A message from the server, as far as the client cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// `status`: `online`, `shutdown`, `maintenance` or `error`.
    Status {
        status: String,
        message: Option<String>,
    },
    /// `welcome`: the answer to `hello`.
    Welcome {
        server_time: i64,
        cursor: u64,
        limits: Limits,
    },
    /// `changes`: a page of the change feed.
    Changes {
        changes: Vec<FeedChange>,
        cursor: u64,
        has_more: bool,
        reset: bool,
    },
    /// `sync_ack` or `sync_nack`.
    Answer(Answer),
    /// `data_update`: another session's change, or the winner over ours.
    DataUpdate(FeedChange),
    /// `error`: something the client sent was refused.
    Error { message: String },
    /// Anything else: pings, pongs, messages of other clients' protocols.
    Ignored,
}

/// Reads a text frame.
pub(crate) fn decode(text: &str) -> Incoming {
    let Ok(json) = serde_json::from_str::<Json>(text) else {
        tracing::warn!(frame = %truncate(text), "the server sent a frame that is not JSON");
        return Incoming::Ignored;
    };
    let string = |key: &str| json.get(key).and_then(Json::as_str).map(str::to_owned);
    let number = |key: &str| json.get(key).and_then(Json::as_u64);
    if json.get("event_type").and_then(Json::as_str) == Some("data_update") {
        let data = json
            .get("data")
            .and_then(|data| data.get("single_entity"))
            .cloned();
        return match (string("entity_type"), data, number("cursor")) {
            (Some(entity_type), Some(data), Some(seq)) => Incoming::DataUpdate(FeedChange {
                entity_type,
                deleted: string("operation_type")
                    .is_some_and(|operation| operation.eq_ignore_ascii_case("delete")),
                data,
                seq,
            }),
            _ => {
                tracing::debug!(frame = %truncate(text), "ignored a data_update without entity, data or cursor");
                Incoming::Ignored
            }
        };
    }
    match json.get("type").and_then(Json::as_str).unwrap_or_default() {
        "status" => Incoming::Status {
            status: string("status").unwrap_or_default(),
            message: string("message"),
        },
        "welcome" => {
            let defaults = Limits::default();
            let limits = json.get("limits");
            let limit = |key: &str, default: usize| {
                limits
                    .and_then(|limits| limits.get(key))
                    .and_then(Json::as_u64)
                    .and_then(|value| usize::try_from(value).ok())
                    .filter(|value| *value > 0)
                    .unwrap_or(default)
            };
            Incoming::Welcome {
                server_time: json
                    .get("server_time")
                    .and_then(Json::as_i64)
                    .unwrap_or_else(|| Version::now().as_millis()),
                cursor: number("cursor").unwrap_or(0),
                limits: Limits {
                    max_message_bytes: limit("max_message_bytes", defaults.max_message_bytes),
                    max_batch: limit("max_batch", defaults.max_batch),
                    max_page: limit("max_page", defaults.max_page),
                },
            }
        }
        "changes" => Incoming::Changes {
            changes: json
                .get("changes")
                .and_then(Json::as_array)
                .map(|changes| changes.iter().filter_map(feed_change).collect())
                .unwrap_or_default(),
            cursor: number("cursor").unwrap_or(0),
            has_more: json
                .get("has_more")
                .and_then(Json::as_bool)
                .unwrap_or(false),
            reset: json.get("reset").and_then(Json::as_bool).unwrap_or(false),
        },
        "sync_ack" => Incoming::Answer(Answer::Ack {
            id: string("id").unwrap_or_default(),
            outcome: match string("outcome").as_deref() {
                Some("superseded") => AckOutcome::Superseded,
                Some("duplicate") => AckOutcome::Duplicate,
                _ => AckOutcome::Applied,
            },
            version: string("updated_at").and_then(|text| Version::parse(&text).ok()),
            cursor: number("cursor"),
            data: json.get("data").filter(|data| data.is_object()).cloned(),
            seq: number("seq"),
            deleted: json.get("deleted").and_then(Json::as_bool),
        }),
        "sync_nack" => {
            let reason = string("reason").unwrap_or_else(|| "unknown".to_owned());
            let retryable = json
                .get("retryable")
                .and_then(Json::as_bool)
                .unwrap_or(matches!(
                    reason.as_str(),
                    "storage_error" | "overloaded" | "internal_error"
                ));
            Incoming::Answer(Answer::Nack {
                id: string("id").unwrap_or_default(),
                detail: string("detail").unwrap_or_default(),
                reason,
                retryable,
            })
        }
        "error" => Incoming::Error {
            message: string("message").unwrap_or_default(),
        },
        _ => Incoming::Ignored,
    }
}

fn feed_change(change: &Json) -> Option<FeedChange> {
    Some(FeedChange {
        entity_type: change.get("entity_type")?.as_str()?.to_owned(),
        deleted: change.get("operation_type").and_then(Json::as_str) == Some("delete"),
        data: change.get("data")?.clone(),
        seq: change.get("cursor")?.as_u64()?,
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

/// `hello`.
pub(crate) fn hello(client_id: &str, cursor: u64) -> String {
    json!({
        "type": "hello",
        "client_id": client_id,
        "protocol": sync_core::protocol::PROTOCOL_VERSION,
        "cursor": cursor,
    })
    .to_string()
}

/// `process_sync_batch` of entries already in their wire form.
pub(crate) fn batch(entries: Vec<Json>) -> String {
    json!({ "type": "process_sync_batch", "entries": entries }).to_string()
}

/// `request_changes`.
pub(crate) fn request_changes(since: u64, limit: usize) -> String {
    json!({ "type": "request_changes", "since": since, "limit": limit }).to_string()
}

/// The client's keep-alive `ping`.
pub(crate) fn ping() -> String {
    json!({ "type": "ping", "timestamp": Version::now().as_millis() }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_server_sends() {
        let ack = decode(
            r#"{"type":"sync_ack","id":"e1","status":"processed","entityId":"a1","entityType":"Account",
                "operationType":"update","outcome":"superseded","updated_at":"2026-03-01T08:00:00.000Z","cursor":42,
                "data":{"id":"a1","name":"Giro","updated_at":"2026-03-01T08:00:00.000Z"},"seq":40,"deleted":false}"#,
        );
        let Incoming::Answer(Answer::Ack {
            id,
            outcome,
            version,
            cursor,
            data,
            seq,
            deleted,
        }) = ack
        else {
            panic!("{ack:?}")
        };
        assert_eq!(
            (id.as_str(), outcome, cursor),
            ("e1", AckOutcome::Superseded, Some(42))
        );
        assert_eq!(version, Version::parse("2026-03-01T08:00:00Z").ok());
        assert_eq!(data.unwrap()["name"], "Giro");
        assert_eq!((seq, deleted), (Some(40), Some(false)));

        let nack =
            decode(r#"{"type":"sync_nack","id":"e2","reason":"overloaded","detail":"busy"}"#);
        assert_eq!(
            nack,
            Incoming::Answer(Answer::Nack {
                id: "e2".into(),
                reason: "overloaded".into(),
                detail: "busy".into(),
                retryable: true
            }),
            "without `retryable` the reason decides"
        );

        let update = decode(
            r#"{"event_type":"data_update","tenant_id":"t","entity_type":"Account","operation_type":"delete",
                "data":{"single_entity":{"id":"a1","updated_at":"2026-03-01T08:00:00.000Z"}},"cursor":43}"#,
        );
        let Incoming::DataUpdate(change) = update else {
            panic!("{update:?}")
        };
        assert!(change.deleted);
        assert_eq!(change.seq, 43);

        let page = decode(
            r#"{"type":"changes","changes":[{"entity_type":"Account","operation_type":"update","data":{"id":"a1"},"cursor":18}],
                "cursor":18,"has_more":true,"reset":false}"#,
        );
        let Incoming::Changes {
            changes,
            cursor,
            has_more,
            reset,
        } = page
        else {
            panic!("{page:?}")
        };
        assert_eq!(
            (changes.len(), cursor, has_more, reset),
            (1, 18, true, false)
        );

        let welcome = decode(
            r#"{"type":"welcome","server_time":5,"cursor":7,"protocol":1,"limits":{"max_batch":100}}"#,
        );
        let Incoming::Welcome {
            server_time,
            cursor,
            limits,
        } = welcome
        else {
            panic!("{welcome:?}")
        };
        assert_eq!(
            (server_time, cursor, limits.max_batch, limits.max_page),
            (5, 7, 100, 10_000)
        );
    }

    #[test]
    fn ignores_what_it_does_not_know() {
        for frame in [
            "not json",
            r#"{"type":"ping","timestamp":1}"#,
            r#"{"type":"pong"}"#,
            r#"{"what":1}"#,
            "[]",
        ] {
            assert_eq!(decode(frame), Incoming::Ignored, "{frame}");
        }
    }
}
