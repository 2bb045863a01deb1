//! `Recipient`: a payee or payer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A FinWise recipient (`recipients`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Recipient", table = "recipients")]
pub struct Recipient {
    /// The recipient's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// The category its transactions get by default.
    #[serde(default)]
    pub default_category_id: Option<String>,
    /// A private note.
    #[serde(default)]
    pub note: Option<String>,
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
        let recipient: Recipient = serde_json::from_value(json!({
            "id": "5e1f2a3b-0000-4000-8000-000000000020",
            "name": "Stadtwerke",
            "defaultCategoryId": "cat-energy",
            "note": "Strom und Gas",
            "createdAt": "2025-01-01T00:00:00Z",
            "updated_at": "2025-03-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(recipient.default_category_id.as_deref(), Some("cat-energy"));
        let out = serde_json::to_value(&recipient).unwrap();
        assert_eq!(out["defaultCategoryId"], "cat-energy");
        assert!(out.get("createdAt").is_none());
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let recipient: Recipient =
            serde_json::from_value(json!({"id": "r", "name": "Bäcker"})).unwrap();
        assert_eq!(recipient.default_category_id, None);
        assert_eq!(recipient.note, None);
    }
}
