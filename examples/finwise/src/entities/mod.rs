//! The nine FinWise entities of PROTOCOL.md part D, each one annotated struct, and the
//! [`registry`] that registers them all.
//!
//! ```
//! let registry = finwise::entities::registry();
//! assert_eq!(registry.len(), 9);
//! assert_eq!(registry.get("account").unwrap().collection(), "accounts");
//! ```
//!
//! The wire JSON is each struct's serde shape: camelCase, except `updated_at` and
//! `logo_path`. Unknown fields (FinWise sends e.g. `image` and `createdAt`) are ignored.
//! Enum-valued fields are Rust enums stored as JSON text (`#[sync(json)]`), so a value
//! outside the list is refused with serde's `unknown variant` message; dates stay strings
//! (see [`Transaction::date`]).

mod account;
mod account_group;
mod automation_rule;
mod category;
mod category_group;
mod planning_transaction;
mod recipient;
mod tag;
mod transaction;

pub use account::{Account, AccountType};
pub use account_group::AccountGroup;
pub use automation_rule::{AutomationRule, ConditionLogic, Stage};
pub use category::Category;
pub use category_group::CategoryGroup;
pub use planning_transaction::{
    AmountType, PlanningTransaction, RecurrenceEndType, RecurrencePattern, WeekendHandling,
};
pub use recipient::Recipient;
pub use tag::Tag;
pub use transaction::{Transaction, TransactionType};

/// A registry of all nine FinWise entities.
pub fn registry() -> sync_core::Registry {
    sync_core::Registry::builder()
        .entity::<Account>()
        .entity::<AccountGroup>()
        .entity::<Category>()
        .entity::<CategoryGroup>()
        .entity::<Recipient>()
        .entity::<Tag>()
        .entity::<AutomationRule>()
        .entity::<PlanningTransaction>()
        .entity::<Transaction>()
        .build()
        .expect("the FinWise entities have distinct names, collections and tables")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_collection_of_protocol_part_d() {
        let registry = registry();
        let mut collections: Vec<_> = registry
            .iter()
            .map(|handler| handler.collection())
            .collect();
        collections.sort_unstable();
        assert_eq!(
            collections,
            [
                "account_groups",
                "accounts",
                "automation_rules",
                "categories",
                "category_groups",
                "planning_transactions",
                "recipients",
                "tags",
                "transactions",
            ]
        );
        for name in [
            "Account",
            "accountgroup",
            "CATEGORY",
            "PlanningTransaction",
            "transaction",
        ] {
            assert!(registry.get(name).is_some(), "{name}");
        }
    }
}
