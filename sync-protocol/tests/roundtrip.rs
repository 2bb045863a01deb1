//! Property tests: every message, of either direction, encodes to a frame that decodes
//! back to the same message.

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use sync_protocol::{
    Ack, AckStatus, Changes, ClientMessage, ConnectionStatusResponse, DataStatusResponse,
    DataUpdate, Entry, Error, FeedChange, InitialDataLoad, Limits, Nack, NackStatus, Operation,
    OutcomeKind, Ping, Pong, Reason, RowChecksum, ServerMessage, SingleEntity, Status, StatusKind,
    TenantDisconnectAck, Welcome,
};

fn text() -> impl Strategy<Value = String> {
    // Quotes, escapes, non-ASCII and control characters included.
    "[a-zA-Z0-9 _\"\\\\é€\u{1F600}\n-]{0,12}"
}

fn entity() -> impl Strategy<Value = Json> {
    (
        text(),
        any::<i32>(),
        any::<bool>(),
        proptest::option::of(text()),
    )
        .prop_map(|(name, balance, archived, note)| {
            json!({"id": name, "balance": balance, "archived": archived, "note": note,
                   "nested": {"list": [1, "two", null]}})
        })
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::Create),
        Just(Operation::Update),
        Just(Operation::Delete)
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
        proptest::option::of(entity()),
        proptest::option::of(any::<i64>()),
        proptest::option::of(text()),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(
            |(
                (id, tenant_id, entity_type, entity_id, operation_type),
                payload,
                timestamp,
                status,
                attempts,
            )| Entry {
                id,
                tenant_id,
                entity_type,
                entity_id,
                operation_type,
                payload,
                timestamp,
                status,
                attempts,
            },
        )
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let optional = || proptest::option::of(text());
    prop_oneof![
        prop_oneof![Just(Json::Null), any::<i64>().prop_map(Json::from)]
            .prop_map(|timestamp| ClientMessage::Ping { timestamp }),
        entry().prop_map(|payload| ClientMessage::ProcessSyncEntry { payload }),
        proptest::collection::vec(entry(), 0..4)
            .prop_map(|entries| ClientMessage::ProcessSyncBatch { entries }),
        optional().prop_map(|tenant_id| ClientMessage::RequestInitialData { tenant_id }),
        (
            optional(),
            proptest::option::of(proptest::collection::vec(text(), 0..3))
        )
            .prop_map(
                |(tenant_id, entity_types)| ClientMessage::DataStatusRequest {
                    tenant_id,
                    entity_types
                }
            ),
        Just(ClientMessage::ConnectionStatusRequest),
        (optional(), optional())
            .prop_map(|(tenant_id, reason)| ClientMessage::TenantDisconnect { tenant_id, reason }),
        (
            optional(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(client_id, protocol, cursor)| ClientMessage::Hello {
                client_id,
                protocol,
                cursor
            }),
        (any::<u64>(), proptest::option::of(any::<usize>()))
            .prop_map(|(since, limit)| ClientMessage::RequestChanges { since, limit }),
    ]
}

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        Just(Reason::ValidationError),
        Just(Reason::UnknownEntity),
        Just(Reason::Forbidden),
        Just(Reason::PayloadMismatch),
        Just(Reason::ClockSkew),
        Just(Reason::TooLarge),
        Just(Reason::StorageError),
        Just(Reason::Overloaded),
        Just(Reason::InternalError),
    ]
}

fn ack() -> impl Strategy<Value = Ack> {
    (
        (text(), text(), text(), text()),
        prop_oneof![
            Just(OutcomeKind::Applied),
            Just(OutcomeKind::Superseded),
            Just(OutcomeKind::Duplicate)
        ],
        proptest::option::of(text()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of((entity(), any::<bool>())),
    )
        .prop_map(
            |(
                (id, entity_id, entity_type, operation_type),
                outcome,
                updated_at,
                cursor,
                seq,
                state,
            )| {
                let (data, deleted) =
                    state.map_or((None, None), |(data, deleted)| (Some(data), Some(deleted)));
                Ack {
                    id,
                    status: AckStatus::Processed,
                    entity_id,
                    entity_type,
                    operation_type,
                    outcome,
                    updated_at,
                    cursor,
                    seq,
                    data,
                    deleted,
                }
            },
        )
}

fn nack() -> impl Strategy<Value = Nack> {
    (
        (text(), text(), text(), text()),
        reason(),
        text(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |((id, entity_id, entity_type, operation_type), reason, detail, retryable)| Nack {
                id,
                status: NackStatus::Failed,
                entity_id,
                entity_type,
                operation_type,
                reason,
                detail,
                retryable,
            },
        )
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let status = prop_oneof![
        Just(StatusKind::Online),
        Just(StatusKind::Maintenance),
        Just(StatusKind::Shutdown),
        Just(StatusKind::Error)
    ];
    let feed_change = (text(), operation(), entity(), any::<u64>()).prop_map(
        |(entity_type, operation_type, data, cursor)| FeedChange {
            entity_type,
            operation_type,
            data,
            cursor,
        },
    );
    let checksum =
        (text(), text(), any::<i64>()).prop_map(|(entity_id, checksum, last_modified)| {
            RowChecksum {
                entity_id,
                checksum,
                last_modified,
            }
        });
    prop_oneof![
        (status, proptest::option::of(text()))
            .prop_map(|(status, message)| ServerMessage::Status(Status { status, message })),
        prop_oneof![
            Just(Json::Null),
            any::<i64>().prop_map(Json::from),
            text().prop_map(Json::from)
        ]
        .prop_map(|timestamp| ServerMessage::Pong(Pong { timestamp })),
        any::<i64>().prop_map(|timestamp| ServerMessage::Ping(Ping { timestamp })),
        ack().prop_map(ServerMessage::Ack),
        nack().prop_map(ServerMessage::Nack),
        (text(), text(), operation(), entity(), any::<u64>()).prop_map(
            |(tenant_id, entity_type, operation_type, single_entity, cursor)| {
                ServerMessage::DataUpdate(DataUpdate {
                    tenant_id,
                    entity_type,
                    operation_type,
                    data: SingleEntity { single_entity },
                    cursor,
                })
            }
        ),
        (
            text(),
            any::<u64>(),
            proptest::collection::btree_map(
                text(),
                proptest::collection::vec(entity(), 0..3),
                0..3
            )
        )
            .prop_map(|(tenant_id, cursor, payload)| {
                ServerMessage::InitialDataLoad(InitialDataLoad {
                    tenant_id,
                    cursor,
                    payload,
                })
            }),
        (
            text(),
            proptest::collection::btree_map(
                text(),
                proptest::collection::vec(checksum, 0..3),
                0..3
            ),
            proptest::option::of(any::<i64>()),
            any::<i64>()
        )
            .prop_map(
                |(tenant_id, entity_checksums, last_sync_time, server_time)| {
                    ServerMessage::DataStatusResponse(DataStatusResponse {
                        tenant_id,
                        entity_checksums,
                        last_sync_time,
                        server_time,
                    })
                }
            ),
        (text(), entity()).prop_map(|(tenant_id, stats)| {
            ServerMessage::ConnectionStatusResponse(ConnectionStatusResponse {
                tenant_id,
                backend_status: "online".into(),
                connection_healthy: true,
                stats,
            })
        }),
        (text(), text()).prop_map(|(tenant_id, message)| {
            ServerMessage::TenantDisconnectAck(TenantDisconnectAck {
                tenant_id,
                status: "success".into(),
                message,
            })
        }),
        (text(), proptest::option::of(text())).prop_map(|(message, original_type)| {
            ServerMessage::Error(Error {
                message,
                original_type,
            })
        }),
        (
            any::<i64>(),
            any::<u64>(),
            any::<u32>(),
            1..usize::MAX,
            1..usize::MAX,
            1..usize::MAX
        )
            .prop_map(
                |(server_time, cursor, protocol, max_message_bytes, max_batch, max_page)| {
                    ServerMessage::Welcome(Welcome {
                        server_time,
                        cursor,
                        protocol,
                        limits: Limits {
                            max_message_bytes,
                            max_batch,
                            max_page,
                        },
                    })
                }
            ),
        (
            proptest::collection::vec(feed_change, 0..4),
            any::<u64>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(changes, cursor, has_more, reset)| {
                ServerMessage::Changes(Changes {
                    changes,
                    cursor,
                    has_more,
                    reset,
                })
            }),
    ]
}

proptest! {
    #[test]
    fn client_messages_round_trip(message in client_message()) {
        let text = message.to_text();
        prop_assert_eq!(ClientMessage::decode(&text), Ok(message), "{}", text);
    }

    #[test]
    fn server_messages_round_trip(message in server_message()) {
        let text = message.to_text();
        prop_assert_eq!(ServerMessage::decode(&text), Ok(message), "{}", text);
    }

    #[test]
    fn no_frame_panics_either_decoder(text in ".{0,64}") {
        let _ = ClientMessage::decode(&text);
        let _ = ServerMessage::decode(&text);
    }
}

#[test]
fn a_nack_without_retryable_takes_the_rule_of_its_reason() {
    let ServerMessage::Nack(nack) = ServerMessage::decode(
        r#"{"type":"sync_nack","id":"e2","reason":"overloaded","detail":"busy"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert!(nack.retryable());
    let unknown = ServerMessage::decode(
        r#"{"type":"sync_nack","id":"e3","reason":"new_reason","retryable":true}"#,
    )
    .unwrap();
    assert!(
        matches!(&unknown, ServerMessage::Nack(nack) if nack.reason == Reason::Unknown && nack.retryable())
    );
}

#[test]
fn a_batch_element_that_is_not_an_object_is_an_empty_entry() {
    let message =
        ClientMessage::decode(r#"{"type":"process_sync_batch","entries":[1,{"id":"e1"},[2]]}"#)
            .unwrap();
    let ClientMessage::ProcessSyncBatch { entries } = message else {
        panic!()
    };
    let ids: Vec<Option<&str>> = entries.iter().map(|entry| entry.id.as_deref()).collect();
    assert_eq!(ids, [None, Some("e1"), None]);
}

#[test]
fn the_text_of_a_status_and_a_reason_is_their_wire_form() {
    for kind in [
        StatusKind::Online,
        StatusKind::Maintenance,
        StatusKind::Shutdown,
        StatusKind::Error,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.to_string());
    }
    for reason in [
        Reason::ValidationError,
        Reason::TooLarge,
        Reason::Overloaded,
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
    }
}
