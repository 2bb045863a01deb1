#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target from the golden messages of docs/protocol.md.

Run from the repository root: python3 fuzz/seeds/make.py
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

ACCOUNT = {"id": "a1", "name": "Giro", "balance": 10.5, "updated_at": "2026-03-01T10:00:00+02:00"}
ENTRY = {"id": "9b2f", "tenantId": "household", "entityType": "Account", "entityId": "a1",
         "operationType": "update", "payload": ACCOUNT,
         "timestamp": 1767225600000, "status": "pending", "attempts": 0}
CLIENT = {
    "process_sync_entry": {"type": "process_sync_entry", "payload": ENTRY},
    "process_sync_batch": {"type": "process_sync_batch", "entries": [
        ENTRY, dict(ENTRY, id="9b30", entityId="a2", operationType="create",
                    payload=dict(ACCOUNT, id="a2")),
        dict(ENTRY, id="9b31", operationType="delete", payload={"id": "a1"})]},
    "request_initial_data": {"type": "request_initial_data", "tenant_id": "household"},
    "hello": {"type": "hello", "client_id": "c-1", "protocol": 1, "cursor": 17},
    "request_changes": {"type": "request_changes", "since": 17, "limit": 500},
    "data_status_request": {"type": "data_status_request", "tenant_id": "household",
                            "entity_types": ["Account"]},
    "connection_status_request": {"type": "connection_status_request"},
    "tenant_disconnect": {"type": "tenant_disconnect", "tenant_id": "household",
                          "reason": "user_logout"},
    "ping": {"type": "ping", "timestamp": 1767225600000},
}
STORED = {"id": "a1", "name": "Giro", "balance": 10.5, "updated_at": "2026-03-01T08:00:00.000Z"}
SERVER = {
    "status": {"type": "status", "status": "online"},
    "ping": {"type": "ping", "timestamp": 1767225600000},
    "sync_ack": {"type": "sync_ack", "id": "9b2f", "status": "processed", "entityId": "a1",
                 "entityType": "Account", "operationType": "update", "outcome": "applied",
                 "updated_at": "2026-03-01T08:00:00.000Z", "cursor": 42, "seq": 42},
    "sync_ack_duplicate": {"type": "sync_ack", "id": "9b2f", "status": "processed",
                           "entityId": "a1", "entityType": "Account", "operationType": "create",
                           "outcome": "duplicate", "updated_at": "2026-03-01T09:00:00.000Z",
                           "cursor": 44, "seq": 43,
                           "data": dict(STORED, name="Giro (renamed)",
                                        updated_at="2026-03-01T09:00:00.000Z"),
                           "deleted": False},
    "sync_nack": {"type": "sync_nack", "id": "9b2f", "status": "failed", "entityId": "a1",
                  "entityType": "Account", "operationType": "update",
                  "reason": "validation_error", "detail": "missing field `balance`",
                  "retryable": False},
    "data_update": {"event_type": "data_update", "tenant_id": "household",
                    "entity_type": "Account", "operation_type": "update",
                    "data": {"single_entity": STORED}, "cursor": 42},
    "initial_data_load": {"event_type": "initial_data_load", "tenant_id": "household",
                          "payload": {"accounts": [STORED], "account_groups": []}, "cursor": 42},
    "error": {"type": "error", "message": "forbidden: this connection is authorised for another tenant"},
    "welcome": {"type": "welcome", "server_time": 1767225600000, "cursor": 42, "protocol": 1,
                "limits": {"max_message_bytes": 1048576, "max_batch": 500, "max_page": 10000}},
    "changes": {"type": "changes", "changes": [{"entity_type": "Account",
                "operation_type": "update", "data": STORED, "cursor": 18}],
                "cursor": 18, "has_more": True, "reset": False},
}


def text(message):
    return json.dumps(message, separators=(",", ":")).encode()


def frame(body):
    return b"\x00" + struct.pack("<H", len(body)) + body


def write(target, name, data):
    with open(os.path.join(HERE, target, name), "wb") as file:
        file.write(data)


for name, message in CLIENT.items():
    write("client_message_decode", name + ".json", text(message))
    write("session_frames", name, frame(text(message)))
for name, message in SERVER.items():
    write("server_message_decode", name + ".json", text(message))
# A whole conversation, the frames the protocol does not use, and bad input.
conversation = [CLIENT[name] for name in ["hello", "process_sync_entry", "process_sync_batch",
                "request_changes", "request_initial_data", "data_status_request",
                "connection_status_request", "ping", "tenant_disconnect"]]
write("session_frames", "conversation", b"".join(frame(text(m)) for m in conversation))
write("session_frames", "binary_activity", frame(text(CLIENT["ping"])) + b"\x0d\x0e")
write("session_frames", "too_large", frame(text(CLIENT["hello"])) + b"\x0f" + frame(text(CLIENT["ping"])))
write("session_frames", "bad_input", frame(b"not json") + frame(b'{"no":"type"}') + frame(b'{"type":"nope"}'))
