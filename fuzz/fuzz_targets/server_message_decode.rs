//! The decoding of server frames on arbitrary text (lossy UTF-8 of the input), by the
//! protocol (`ServerMessage::decode`) and by the client (`sync-client`'s connection,
//! reached through the hidden `sync_client::__fuzz::decode_server_message`).
//!
//! Neither may panic. A message that decodes must survive the encoder:
//! `decode(to_text(m)) == m` (unknown fields are dropped on the first reading; the crate
//! turns on serde_json's `float_roundtrip` so that numbers in entity JSON read back as the
//! same `f64`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_core::protocol::ServerMessage;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = sync_client::__fuzz::decode_server_message(&text);
    let Ok(message) = ServerMessage::decode(&text) else {
        return;
    };
    let encoded = message.to_text();
    match ServerMessage::decode(&encoded) {
        Ok(again) => assert_eq!(again, message, "{text} → {encoded}"),
        Err(error) => panic!("{text} → {encoded} does not decode: {error}"),
    }
});
