//! The nine FinWise entities of PROTOCOL.md part D, each one annotated struct, the
//! server-kept [`AccountGrant`] that limits members to account groups, and the
//! [`registry`] that registers them all.
//!
//! ```
//! let registry = finwise::entities::registry();
//! assert_eq!(registry.len(), 10);
//! assert_eq!(registry.get("account").unwrap().collection(), "accounts");
//! ```
//!
//! The wire JSON is each struct's serde shape: camelCase, except `updated_at` and
//! `logo_path`. Unknown fields (FinWise sends e.g. `image` and `createdAt`) are ignored.
//! Enum-valued fields are Rust enums stored as JSON text (`#[sync(json)]`), so a value
//! outside the list is refused with serde's `unknown variant` message; dates stay strings
//! (see [`Transaction::date`]).

mod account;
mod account_grant;
mod account_group;
mod automation_rule;
mod category;
mod category_group;
mod planning_transaction;
mod recipient;
mod tag;
mod transaction;

pub use account::{Account, AccountType};
pub use account_grant::{AccountGrant, ServerWritesGrants};
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

/// One FinWise entity of any of the nine types: the app's payload enum, whose JSON is the
/// wire format, and from which the [`registry`] and the TypeScript declarations
/// ([`typescript`]) are built.
#[derive(Debug, Clone, PartialEq, sync_core::SyncSchema)]
pub enum Payload {
    /// An account.
    Account(Account),
    /// An account group.
    AccountGroup(AccountGroup),
    /// A category.
    Category(Category),
    /// A category group.
    CategoryGroup(CategoryGroup),
    /// A recipient.
    Recipient(Recipient),
    /// A tag.
    Tag(Tag),
    /// An automation rule.
    AutomationRule(AutomationRule),
    /// A planned transaction.
    PlanningTransaction(PlanningTransaction),
    /// A transaction.
    Transaction(Transaction),
    /// A member's grant of an account group or account (written by the server only).
    AccountGrant(AccountGrant),
}

/// A registry of all FinWise entities, with the members' rules: a
/// [viewer](crate::db::Role::Viewer) writes nothing (NACK `forbidden`), whatever the
/// entity, and no client writes an [`AccountGrant`].
pub fn registry() -> sync_core::Registry {
    <Payload as sync_core::entity::Schema>::registry()
        .expect("the FinWise entities have distinct names, collections and tables")
        .with_authorizer(viewers_read_only)
        .with_rules::<AccountGrant>(ServerWritesGrants)
        .expect("AccountGrant is registered")
}

/// The server's registry: [`registry`], and `keeper` hearing of every committed account,
/// to keep members' account grants in step ([`crate::grants`]).
pub fn server_registry(keeper: &crate::grants::Keeper) -> sync_core::Registry {
    registry()
        .with_rules::<Account>(keeper.clone())
        .expect("Account is registered")
}

/// Refuses every write of a session whose role cannot write.
fn viewers_read_only(
    actor: &sync_core::entity::Actor,
    _: &sync_core::TenantId,
    _: &sync_core::Change,
) -> Result<(), String> {
    // No role: the server's own code. A role that does not parse writes nothing.
    let Some(role) = actor.role() else {
        return Ok(());
    };
    match role.parse::<crate::db::Role>() {
        Ok(role) if role.writes() => Ok(()),
        _ => Err(format!("a {role} of this tenant cannot change its data")),
    }
}

/// The TypeScript declarations (`.d.ts`) of the FinWise entities and the wire messages,
/// as `finwise export-types` writes them and `examples/finwise/finwise.d.ts` holds them.
///
/// ```
/// let text = finwise::entities::typescript();
/// assert!(text.contains("export interface Account {"));
/// ```
pub fn typescript() -> String {
    sync_core::typescript::declarations::<Payload>()
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
                "account_grants",
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
