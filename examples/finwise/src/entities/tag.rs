//! `Tag`: a label for transactions, optionally nested under another tag.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A FinWise tag (`tags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Tag", table = "tags")]
pub struct Tag {
    /// The tag's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// The tag this one is nested under.
    #[serde(default)]
    pub parent_tag_id: Option<String>,
    /// Display colour, e.g. `#ff8800`.
    #[serde(default)]
    pub color: Option<String>,
    /// Icon name.
    #[serde(default)]
    pub icon: Option<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decodes_a_finwise_payload() {
        let tag: Tag = serde_json::from_value(json!({
            "id": "7d3c0000-0000-4000-8000-000000000030",
            "name": "Urlaub",
            "parentTagId": null,
            "color": "#ff8800",
            "icon": "mdi:beach",
            "updated_at": "2025-03-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(tag.color.as_deref(), Some("#ff8800"));
        assert_eq!(tag.parent_tag_id, None);
        assert_eq!(
            serde_json::to_value(&tag).unwrap()["parentTagId"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let tag: Tag = serde_json::from_value(json!({"id": "t", "name": "Auto"})).unwrap();
        assert_eq!((tag.parent_tag_id, tag.color, tag.icon), (None, None, None));
    }
}
