//! `ClientMessage::decode` on arbitrary text (lossy UTF-8 of the input).
//!
//! It must never panic. There is no encoder of client messages, so what is checked past
//! decoding is what the server makes of the result: a refused frame's `error` reply, and
//! each entry's change or NACK, all encode to JSON objects.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_core::TenantId;
use sync_core::protocol::{ClientMessage, Entry, Nack, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tenant = TenantId::new("household").expect("a valid tenant id");
    match ClientMessage::decode(&text) {
        Err(error) => well_formed(&error.reply()),
        Ok(ClientMessage::ProcessSyncEntry(entry)) => entries(&tenant, &[entry]),
        Ok(ClientMessage::ProcessSyncBatch(batch)) => entries(&tenant, &batch),
        Ok(other) => {
            let _ = format!("{other:?}");
        }
    }
});

fn entries(tenant: &TenantId, entries: &[Entry]) {
    for entry in entries {
        match entry.to_change(tenant) {
            Ok(change) => {
                let _ = format!("{change:?}");
            }
            Err(rejection) => well_formed(&ServerMessage::Nack(Nack::of(entry, rejection))),
        }
    }
}

fn well_formed(message: &ServerMessage) {
    let text = message.to_text();
    let json: serde_json::Value = serde_json::from_str(&text).expect("a reply is JSON");
    assert!(json.is_object(), "a reply is a JSON object: {text}");
}
