//! Members: who besides its owner may use a tenant, and in which role.
//!
//! The owner is the tenant's `user_id` and is no row here; every other member is one row
//! of `tenant_members` with the role `editor`, `member` or `viewer`. Removing a tenant or a user
//! removes their rows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sync_core::version::Version;

use super::{AuthDb, on_pool};
use crate::error::Result;

/// A member's role in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The tenant's creator: reads and writes everything and manages its members.
    Owner,
    /// Reads and writes the tenant's data.
    Editor,
    /// Reads and writes the tenant's data, except that of transactions and planned
    /// transactions, which it sees and writes only in the account groups the owner gives
    /// it (`PUT /tenants/{id}/members/{user_id}/account-groups`), through the streams
    /// `transactions_by_account` and `planning_transactions_by_account`; it does not
    /// change accounts, which would move them between groups.
    Member,
    /// Reads the tenant's data; every write is refused (`forbidden`).
    Viewer,
}

impl Role {
    /// The stored and wire form: `owner`, `editor`, `member` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Whether the role may write the tenant's data.
    pub fn writes(self) -> bool {
        self != Role::Viewer
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "owner" => Ok(Role::Owner),
            "editor" => Ok(Role::Editor),
            "member" => Ok(Role::Member),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!(
                "unknown role {other:?}: owner, editor, member or viewer"
            )),
        }
    }
}

/// A member as `GET /tenants/{id}/members` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The member's user id.
    pub user_id: String,
    /// The member's user name.
    pub name: String,
    /// The member's email address.
    pub email: String,
    /// The member's role.
    pub role: Role,
}

type MemberRow = (String, String, String, String);

fn member((user_id, name, email, role): MemberRow) -> Result<Member> {
    let role = role
        .parse()
        .map_err(|error: String| crate::Error::Database(sqlx::Error::Decode(error.into())))?;
    Ok(Member {
        user_id,
        name,
        email,
        role,
    })
}

impl AuthDb {
    /// `user_id`'s role in tenant `tenant_id`: `Owner` for its owner, the member's role,
    /// or `None` without access (or for an unknown tenant).
    pub async fn role_in(&self, tenant_id: &str, user_id: &str) -> Result<Option<Role>> {
        let row: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT 'owner' FROM tenants WHERE uuid = $1 AND user_id = $2
             UNION ALL
             SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2"
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        row.map(|(role,)| {
            role.parse()
                .map_err(|error: String| crate::Error::Database(sqlx::Error::Decode(error.into())))
        })
        .transpose()
    }

    /// The tenant's members, its owner first, then by name.
    pub async fn members(&self, tenant_id: &str) -> Result<Vec<Member>> {
        let rows: Vec<MemberRow> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT u.uuid, u.name, u.email, 'owner' FROM tenants t JOIN users u ON u.uuid = t.user_id
             WHERE t.uuid = $1
             UNION ALL
             SELECT u.uuid, u.name, u.email, m.role FROM tenant_members m JOIN users u ON u.uuid = m.user_id
             WHERE m.tenant_id = $1"
        )
        .bind(tenant_id)
        .fetch_all(pool)
        .await
        })?;
        let mut members = rows.into_iter().map(member).collect::<Result<Vec<_>>>()?;
        members.sort_by(|a, b| {
            (a.role != Role::Owner, &a.name, &a.user_id).cmp(&(
                b.role != Role::Owner,
                &b.name,
                &b.user_id,
            ))
        });
        Ok(members)
    }

    /// Makes `user_id` a member of `tenant_id` with `role` (editor or viewer). `false` when
    /// the user is a member already.
    pub async fn add_member(&self, tenant_id: &str, user_id: &str, role: Role) -> Result<bool> {
        let now = Version::now().to_string();
        let added = on_pool!(self, |pool| sqlx::query(
            "INSERT INTO tenant_members (tenant_id, user_id, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (tenant_id, user_id) DO NOTHING"
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(&now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(added == 1)
    }

    /// Gives member `user_id` of `tenant_id` the role `role`; `false` when it is no member.
    pub async fn set_member_role(
        &self,
        tenant_id: &str,
        user_id: &str,
        role: Role,
    ) -> Result<bool> {
        let now = Version::now().to_string();
        let changed = on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE tenant_members SET role = $3, updated_at = $4 WHERE tenant_id = $1 AND user_id = $2"
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(&now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
        })?;
        Ok(changed == 1)
    }

    /// Removes member `user_id` from `tenant_id`; `false` when it was no member.
    pub async fn remove_member(&self, tenant_id: &str, user_id: &str) -> Result<bool> {
        let removed = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM tenant_members WHERE tenant_id = $1 AND user_id = $2"
        )
        .bind(tenant_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(removed == 1)
    }
}
