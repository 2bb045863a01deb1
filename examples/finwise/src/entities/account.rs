//! `Account`: a bank account, card, depot or cash box.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::AccountGrant;

/// A FinWise bank account (`accounts`). The owner, editors and viewers get every account;
/// a `member` only those of its account groups, through the stream `accounts_by_group`
/// (keyed by the groups its [`AccountGrant`](super::AccountGrant) rows give it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "Account", table = "accounts")]
#[sync(stream(name = "accounts_by_group", by = account_group_id, keys = principal, via = AccountGrant.account_group_id, member = user_id, whole = ["owner", "editor", "viewer"]))]
pub struct Account {
    /// The account's id.
    #[sync(id)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text shown under the name.
    #[serde(default)]
    pub description: Option<String>,
    /// A private note.
    #[serde(default)]
    pub note: Option<String>,
    /// What kind of account this is; `sonstiges` when absent.
    #[serde(default)]
    #[sync(json)]
    pub account_type: AccountType,
    /// Whether the account is in use.
    pub is_active: bool,
    /// Whether the account is left out of the budget.
    pub is_offline_budget: bool,
    /// The group the account is listed under: the stream's partition.
    #[sync(index)]
    pub account_group_id: String,
    /// Position within its group; 0 when absent.
    #[serde(default)]
    pub sort_order: i32,
    /// The account's IBAN.
    #[serde(default)]
    pub iban: Option<String>,
    /// The current balance.
    pub balance: f64,
    /// The credit limit, for accounts that have one.
    #[serde(default)]
    pub credit_limit: Option<f64>,
    /// FinWise's day offset for the account's statements.
    pub offset: i32,
    /// Path of the account's logo; snake_case on the wire, as FinWise sends it.
    #[serde(default, rename = "logo_path")]
    pub logo_path: Option<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The kind of an [`Account`]. Accepted in any letter case, written in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountType {
    /// Current account.
    Giro,
    /// Instant-access savings.
    Tagesgeld,
    /// Fixed-term deposit.
    Festgeld,
    /// Savings account.
    Spar,
    /// Credit card.
    Kreditkarte,
    /// Securities depot.
    Depot,
    /// Building savings contract.
    Bauspar,
    /// Loan.
    Darlehen,
    /// Business account.
    Geschaeft,
    /// Joint account.
    Gemeinschaft,
    /// Foreign currency account.
    Fremdwaehrung,
    /// Virtual account.
    Virtuell,
    /// Cash.
    Bar,
    /// Anything else; the default.
    #[default]
    Sonstiges,
}

impl AccountType {
    /// Every account type, with its wire name.
    pub const ALL: [(AccountType, &'static str); 14] = [
        (AccountType::Giro, "giro"),
        (AccountType::Tagesgeld, "tagesgeld"),
        (AccountType::Festgeld, "festgeld"),
        (AccountType::Spar, "spar"),
        (AccountType::Kreditkarte, "kreditkarte"),
        (AccountType::Depot, "depot"),
        (AccountType::Bauspar, "bauspar"),
        (AccountType::Darlehen, "darlehen"),
        (AccountType::Geschaeft, "geschaeft"),
        (AccountType::Gemeinschaft, "gemeinschaft"),
        (AccountType::Fremdwaehrung, "fremdwaehrung"),
        (AccountType::Virtuell, "virtuell"),
        (AccountType::Bar, "bar"),
        (AccountType::Sonstiges, "sonstiges"),
    ];

    /// The wire name, lowercase.
    pub fn as_str(self) -> &'static str {
        AccountType::ALL
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("sonstiges", |(_, name)| name)
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AccountType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AccountType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CaseInsensitive;

        impl Visitor<'_> for CaseInsensitive {
            type Value = AccountType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of")?;
                for (index, (_, name)) in AccountType::ALL.iter().enumerate() {
                    let separator = if index == 0 { " " } else { ", " };
                    write!(f, "{separator}`{name}`")?;
                }
                f.write_str(" (in any letter case)")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<AccountType, E> {
                AccountType::ALL
                    .iter()
                    .find(|(_, name)| name.eq_ignore_ascii_case(value))
                    .map(|(kind, _)| *kind)
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(value), &self))
            }
        }

        deserializer.deserialize_str(CaseInsensitive)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn finwise_account() -> serde_json::Value {
        json!({
            "id": "0b6c1a5e-1b7e-4d5c-9a63-3d1f0c2e4b11",
            "name": "Girokonto",
            "description": "Hauptkonto",
            "note": null,
            "accountType": "GIRO",
            "isActive": true,
            "isOfflineBudget": false,
            "accountGroupId": "c0ffee00-0000-4000-8000-000000000001",
            "sortOrder": 2,
            "iban": "DE89370400440532013000",
            "balance": 1234.56,
            "creditLimit": 500,
            "offset": 0,
            "image": "data:image/png;base64,AAAA",
            "logo_path": "logos/bank.png",
            "updated_at": "2025-03-01T10:00:00.000Z"
        })
    }

    #[test]
    fn decodes_a_finwise_payload_and_ignores_unknown_fields() {
        let account: Account = serde_json::from_value(finwise_account()).unwrap();
        assert_eq!(account.name, "Girokonto");
        assert_eq!(account.account_type, AccountType::Giro);
        assert_eq!(account.credit_limit, Some(500.0));
        assert_eq!(account.logo_path.as_deref(), Some("logos/bank.png"));
        assert!(account.updated_at.is_some());
    }

    #[test]
    fn account_type_is_case_insensitive_on_input_and_lowercase_on_output() {
        for spelling in ["giro", "Giro", "GIRO", "gIrO"] {
            let kind: AccountType = serde_json::from_value(json!(spelling)).unwrap();
            assert_eq!(kind, AccountType::Giro);
        }
        let account: Account = serde_json::from_value(finwise_account()).unwrap();
        let out = serde_json::to_value(&account).unwrap();
        assert_eq!(out["accountType"], "giro");
        assert_eq!(out["logo_path"], "logos/bank.png");
        assert!(out.get("logoPath").is_none());
        assert!(out.get("image").is_none());
    }

    #[test]
    fn every_account_type_round_trips() {
        for (kind, name) in AccountType::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<AccountType>(json!(name)).unwrap(),
                kind
            );
        }
    }

    #[test]
    fn defaults_apply() {
        let mut payload = finwise_account();
        let object = payload.as_object_mut().unwrap();
        for key in [
            "accountType",
            "sortOrder",
            "description",
            "iban",
            "creditLimit",
            "logo_path",
            "updated_at",
        ] {
            object.remove(key);
        }
        let account: Account = serde_json::from_value(payload).unwrap();
        assert_eq!(account.account_type, AccountType::Sonstiges);
        assert_eq!(account.sort_order, 0);
        assert_eq!(account.credit_limit, None);
        assert_eq!(account.updated_at, None);
    }

    #[test]
    fn an_unknown_account_type_is_refused() {
        let mut payload = finwise_account();
        payload["accountType"] = json!("bitcoin");
        let error = serde_json::from_value::<Account>(payload)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"bitcoin\", expected one of `giro`"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_required_field_is_refused() {
        let mut payload = finwise_account();
        payload.as_object_mut().unwrap().remove("balance");
        let error = serde_json::from_value::<Account>(payload)
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `balance`"), "{error}");
    }
}
