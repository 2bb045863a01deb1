//! Row checksums for `data_status_response`: a stable hash of the row's canonical JSON.

use std::fmt::Write as _;

use serde_json::Value as Json;

/// A hex FNV-1a 64 hash of `row`'s canonical JSON: keys sorted at every level, no spaces.
/// Two replicas holding the same row get the same checksum, whatever their key order.
pub fn row_checksum(row: &Json) -> String {
    let mut canonical = String::new();
    write_canonical(row, &mut canonical);
    let hash = canonical
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

fn write_canonical(value: &Json, out: &mut String) {
    match value {
        Json::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Json::String(key.clone()));
                write_canonical(&object[key], out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter_content_does() {
        let a = json!({"id": "1", "nested": {"x": 1, "y": [1, 2]}, "name": "n"});
        let b: Json =
            serde_json::from_str(r#"{"name":"n","nested":{"y":[1,2],"x":1},"id":"1"}"#).unwrap();
        assert_eq!(row_checksum(&a), row_checksum(&b));
        assert_ne!(row_checksum(&a), row_checksum(&json!({"id": "1"})));
        assert_eq!(row_checksum(&a).len(), 16);
    }
}
