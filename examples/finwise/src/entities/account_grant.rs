//! `AccountGrant`: what a member of the role `member` may see of the transactions and
//! planned transactions, kept by the server (`crate::grants`), never written by a client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::TenantId;
use sync_core::entity::{Actor, Proposed, Rules};

/// One grant row (`account_grants`), of two kinds:
///
/// - a *group* row (`account_id` empty) records that the owner gave `user_id` the account
///   group `account_group_id`;
/// - an *account* row gives `user_id` the account `account_id`, one of that group's: the
///   membership that the streams `transactions_by_account` and
///   `planning_transactions_by_account` read (one hop, `via = AccountGrant.account_id`).
///
/// The server derives the account rows from the group rows and the accounts, and keeps
/// them in step as accounts are created, moved between groups and deleted. A client never
/// receives the entity whole (its own stream binds every role) and may not write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sync_core::Syncable)]
#[serde(rename_all = "camelCase")]
#[sync(entity = "AccountGrant", table = "account_grants")]
#[sync(stream(name = "account_grants_of_member", by = user_id, keys = principal, via = AccountGrant.user_id, member = user_id))]
pub struct AccountGrant {
    /// A UUID derived from the row's member, group and account ([`AccountGrant::group`],
    /// [`AccountGrant::account`]): the same grant always has the same id, whatever the
    /// lengths of the ids it names.
    #[sync(id)]
    pub id: String,
    /// The member: a user id.
    #[sync(index)]
    pub user_id: String,
    /// The account group the owner gave: the membership of `accounts_by_group`.
    #[sync(index)]
    pub account_group_id: String,
    /// The account, for an account row; `None` for a group row.
    #[serde(default)]
    #[sync(index)]
    pub account_id: Option<String>,
    /// The version.
    #[serde(rename = "updated_at")]
    #[sync(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl AccountGrant {
    /// The row recording that `user_id` was given the group `group`.
    pub fn group(user_id: &str, group: &str) -> AccountGrant {
        AccountGrant {
            id: grant_id(&[user_id, group]),
            user_id: user_id.to_owned(),
            account_group_id: group.to_owned(),
            account_id: None,
            updated_at: Some(Utc::now()),
        }
    }

    /// The row giving `user_id` the account `account` of the group `group`.
    pub fn account(user_id: &str, group: &str, account: &str) -> AccountGrant {
        AccountGrant {
            id: grant_id(&[user_id, group, account]),
            account_id: Some(account.to_owned()),
            ..AccountGrant::group(user_id, group)
        }
    }
}

/// The UUID (v5) of a grant naming `parts`, each length-prefixed so no two lists of ids
/// share a name.
fn grant_id(parts: &[&str]) -> String {
    let name: String = parts
        .iter()
        .map(|part| format!("{}:{part};", part.len()))
        .collect();
    uuid::Uuid::new_v5(&GRANTS, name.as_bytes()).to_string()
}

/// The namespace of grant ids.
const GRANTS: uuid::Uuid = uuid::Uuid::from_u128(0x6b1f_0c53_9a4e_4d1c_8f00_7e55_a11c_e0a1);

/// Only the server writes grants: a client's write of one is NACKed `forbidden`, whatever
/// its role (a member granting itself an account would escape its limit).
pub struct ServerWritesGrants;

impl Rules<AccountGrant> for ServerWritesGrants {
    fn authorize(
        &self,
        actor: &Actor,
        _: &TenantId,
        _: &Proposed<'_, AccountGrant>,
    ) -> Result<(), String> {
        if actor.is_server() {
            Ok(())
        } else {
            Err("account grants are kept by the server; set a member's account groups with PUT /tenants/{id}/members/{user_id}/account-groups".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_has_one_short_id_and_no_two_grants_share_one() {
        let row = AccountGrant::account("user", "group", "account");
        assert_eq!(row.id, AccountGrant::account("user", "group", "account").id);
        assert_eq!(row.id.len(), 36);
        assert_ne!(row.id, AccountGrant::group("user", "group").id);
        assert_ne!(
            AccountGrant::group("a/b", "c").id,
            AccountGrant::group("a", "b/c").id
        );
        let long = "x".repeat(255);
        assert_eq!(AccountGrant::account(&long, &long, &long).id.len(), 36);
    }
}
