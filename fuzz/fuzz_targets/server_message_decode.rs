//! The client's decoding of server frames (`sync-client`'s private `connection::wire::decode`,
//! reached through the hidden `sync_client::__fuzz::decode_server_message`) on arbitrary
//! text (lossy UTF-8 of the input). It must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = sync_client::__fuzz::decode_server_message(&text);
});
