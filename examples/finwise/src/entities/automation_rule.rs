//! `AutomationRule`: a rule FinWise applies to transactions as they are booked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A FinWise automation rule (`automation_rules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AutomationRule", table = "automation_rules")]
pub struct AutomationRule {
    /// The rule's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the rule is for.
    #[serde(default)]
    pub description: Option<String>,
    /// When in the booking pipeline the rule runs.
    #[sync(json)]
    pub stage: Stage,
    /// The conditions, as the frontend defines them; `[]` when absent.
    #[serde(default)]
    #[sync(json)]
    pub conditions: Vec<Map<String, Value>>,
    /// The actions, as the frontend defines them; `[]` when absent.
    #[serde(default)]
    #[sync(json)]
    pub actions: Vec<Map<String, Value>>,
    /// Order among the rules of a stage.
    pub priority: i32,
    /// Whether the rule runs.
    pub is_active: bool,
    /// Whether all or any condition must hold; `all` when absent.
    #[serde(default)]
    #[sync(json)]
    pub condition_logic: ConditionLogic,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// When an [`AutomationRule`] runs: `PRE`, `DEFAULT` or `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stage {
    /// Before the default rules.
    Pre,
    /// With the default rules.
    Default,
    /// After the default rules.
    Post,
}

/// How an [`AutomationRule`] combines its conditions: `all` (the default) or `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionLogic {
    /// Every condition must hold.
    #[default]
    All,
    /// One condition suffices.
    Any,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn finwise_rule() -> Value {
        json!({
            "id": "rule-1",
            "name": "Miete",
            "description": "Miete kategorisieren",
            "stage": "DEFAULT",
            "conditions": [{"type": "RECIPIENT_EQUALS", "operator": "is", "value": "rec-1"}],
            "actions": [{"type": "SET_CATEGORY", "field": "categoryId", "value": "cat-rent"}],
            "priority": 10,
            "isActive": true,
            "conditionLogic": "any",
            "updated_at": "2025-03-01T10:00:00Z"
        })
    }

    #[test]
    fn decodes_a_finwise_payload() {
        let rule: AutomationRule = serde_json::from_value(finwise_rule()).unwrap();
        assert_eq!(rule.stage, Stage::Default);
        assert_eq!(rule.condition_logic, ConditionLogic::Any);
        assert_eq!(rule.conditions[0]["value"], "rec-1");
        let out = serde_json::to_value(&rule).unwrap();
        assert_eq!(out["stage"], "DEFAULT");
        assert_eq!(out["conditionLogic"], "any");
        assert_eq!(out["actions"], finwise_rule()["actions"]);
    }

    #[test]
    fn defaults_apply() {
        let mut payload = finwise_rule();
        let object = payload.as_object_mut().unwrap();
        for key in ["conditions", "actions", "conditionLogic", "description"] {
            object.remove(key);
        }
        let rule: AutomationRule = serde_json::from_value(payload).unwrap();
        assert!(rule.conditions.is_empty());
        assert!(rule.actions.is_empty());
        assert_eq!(rule.condition_logic, ConditionLogic::All);
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let mut payload = finwise_rule();
        payload["stage"] = json!("LATER");
        let error = serde_json::from_value::<AutomationRule>(payload)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown variant `LATER`, expected one of `PRE`, `DEFAULT`, `POST`"),
            "{error}"
        );

        let mut payload = finwise_rule();
        payload["conditionLogic"] = json!("some");
        let error = serde_json::from_value::<AutomationRule>(payload)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown variant `some`"), "{error}");
    }

    #[test]
    fn conditions_must_be_objects() {
        let mut payload = finwise_rule();
        payload["conditions"] = json!(["not an object"]);
        assert!(serde_json::from_value::<AutomationRule>(payload).is_err());
    }
}
