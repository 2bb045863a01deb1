//! `ClientMessage::decode` on arbitrary text (lossy UTF-8 of the input).
//!
//! It must never panic. A message that decodes must survive the encoder:
//! `decode(to_text(m)) == m`, which holds for every message since unknown fields are
//! dropped and fields of the wrong shape decode as absent, both on the first reading. Past
//! decoding, what the server makes of the result is checked too: a refused frame's `error`
//! reply, and each entry's change or NACK, all encode to JSON objects.
//!
//! The crate turns on serde_json's `float_roundtrip`, so that a number in an entity's
//! JSON reads back as the same `f64` it was written from.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_core::TenantId;
use sync_core::protocol::{self, ClientMessage, Entry, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tenant = TenantId::new("household").expect("a valid tenant id");
    let message = match ClientMessage::decode(&text) {
        Err(error) => return well_formed(&protocol::error_reply(&error)),
        Ok(message) => message,
    };
    let encoded = message.to_text();
    match ClientMessage::decode(&encoded) {
        Ok(again) => assert_eq!(again, message, "{text} → {encoded}"),
        Err(error) => panic!("{text} → {encoded} does not decode: {error}"),
    }
    match &message {
        ClientMessage::ProcessSyncEntry { payload } => {
            entries(&tenant, std::slice::from_ref(payload))
        }
        ClientMessage::ProcessSyncBatch { entries: batch } => entries(&tenant, batch),
        _ => {}
    }
});

fn entries(tenant: &TenantId, entries: &[Entry]) {
    for entry in entries {
        match protocol::to_change(entry, tenant) {
            Ok(change) => {
                let _ = format!("{change:?}");
            }
            Err(rejection) => well_formed(&protocol::nack(entry, rejection)),
        }
    }
}

fn well_formed(message: &ServerMessage) {
    let text = message.to_text();
    let json: serde_json::Value = serde_json::from_str(&text).expect("a reply is JSON");
    assert!(json.is_object(), "a reply is a JSON object: {text}");
    assert_eq!(
        ServerMessage::decode(&text).as_ref(),
        Ok(message),
        "a reply decodes to itself: {text}"
    );
}
