//! The examples of docs/protocol.md are the golden messages: each block marked
//! `json client` or `json server` decodes as a message of that direction and encodes back
//! to the same JSON, and every message type has an example. The examples are read from
//! the document itself, so the document and this test cannot drift apart.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use sync_protocol::{ClientMessage, ServerMessage};

const DOC: &str = include_str!("../../docs/protocol.md");

/// The examples of one direction (`client` or `server`), in document order.
fn examples(direction: &str) -> Vec<String> {
    let fence = format!("```json {direction}");
    let mut examples = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        if line.trim() == fence {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|line| line.trim() != "```")
                .collect();
            examples.push(body.join("\n"));
        }
    }
    examples
}

/// The message's tag, as the example names it.
fn tag(json: &Json) -> String {
    json.get("type")
        .or_else(|| json.get("event_type"))
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("an example without a tag: {json}"))
        .to_owned()
}

fn check<M>(
    direction: &str,
    decode: impl Fn(&str) -> Result<M, sync_protocol::DecodeError>,
    encode: impl Fn(&M) -> String,
) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for example in examples(direction) {
        let expected: Json = serde_json::from_str(&example)
            .unwrap_or_else(|error| panic!("the example is not JSON ({error}):\n{example}"));
        let message = decode(&example).unwrap_or_else(|error| {
            panic!("the {direction} example does not decode ({error}):\n{example}")
        });
        let encoded: Json = serde_json::from_str(&encode(&message)).unwrap();
        assert_eq!(
            encoded, expected,
            "the {direction} example does not encode back to itself"
        );
        tags.insert(tag(&expected));
    }
    tags
}

#[test]
fn every_client_example_decodes_and_encodes_back() {
    let tags = check("client", ClientMessage::decode, ClientMessage::to_text);
    let all: BTreeSet<String> = ClientMessage::TYPES
        .iter()
        .map(|tag| tag.to_string())
        .collect();
    assert_eq!(
        tags, all,
        "every client message has an example in docs/protocol.md"
    );
}

#[test]
fn every_server_example_decodes_and_encodes_back() {
    let tags = check("server", ServerMessage::decode, ServerMessage::to_text);
    let all: BTreeSet<String> = ServerMessage::TYPES
        .iter()
        .chain(&ServerMessage::EVENT_TYPES)
        .map(|tag| tag.to_string())
        .collect();
    assert_eq!(
        tags, all,
        "every server message has an example in docs/protocol.md"
    );
}

#[test]
fn examples_are_written_in_the_order_the_encoder_writes() {
    // Not a contract (receivers must not depend on key order), but the examples show the
    // bytes a client sees.
    for example in examples("server").iter().chain(&examples("client")) {
        let example = example.trim_start();
        assert!(
            example.starts_with(r#"{"type":"#) || example.starts_with(r#"{"event_type":"#),
            "the tag comes first: {example}"
        );
    }
}
