//! A member's account groups: `GET`/`PUT /tenants/{id}/members/{user_id}/account-groups`.
//! Only the tenant's owner calls them (403 for anyone else, 404 for an unknown tenant or
//! member).
//!
//! A member of the role `member` sees and writes the transactions and planned
//! transactions of the accounts in its groups only ([`crate::grants`]); every other entity
//! it gets whole. A new member of that role has no group: no transaction at all. Setting
//! the groups takes effect at once on the member's open sessions: accounts gained arrive
//! as bucket snapshots, lost ones leave with `bucket_removed` (reason `revoked`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sync_core::TenantId;
use sync_core::session::DEFAULT_MAX_BUCKETS;

use super::caller::Caller;
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::tenants::{UserQuery, owned_tenant};
use crate::db::Role;
use crate::entities::AccountGroup;
use crate::state::AppState;

/// The body of `PUT /tenants/{id}/members/{user_id}/account-groups`.
#[derive(Debug, Deserialize)]
pub(crate) struct SetGroups {
    account_groups: Vec<String>,
}

/// A member's account groups and the accounts they give.
#[derive(Debug, Serialize)]
pub(crate) struct MemberGroups {
    user_id: String,
    account_groups: Vec<String>,
    /// Absent from `GET`: the accounts follow the groups as they change.
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<String>>,
}

/// `GET /tenants/{id}/members/{user_id}/account-groups`: the member's groups, sorted.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
    Query(query): Query<UserQuery>,
) -> Result<axum::Json<MemberGroups>, ApiError> {
    let tenant = owned_tenant(&state, &id, &caller.acting_for(query.user_id())?).await?;
    member_role(&state, &tenant.uuid, &member_id).await?;
    let tenant_id = tenant_id(&tenant.uuid)?;
    let groups = crate::grants::groups(state.sync.engine(), &tenant_id, &member_id)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(axum::Json(MemberGroups {
        user_id: member_id,
        account_groups: groups,
        accounts: None,
    }))
}

/// `PUT /tenants/{id}/members/{user_id}/account-groups` `{"account_groups": [...]}`: the
/// member of the role `member` sees exactly these groups' accounts from now on. 200 with
/// the groups and the accounts they give; 409 when the member has another role (which is
/// not limited by groups); 422 for a group the tenant does not have, or more than 1,000.
pub(crate) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
    Query(query): Query<UserQuery>,
    Json(body): Json<SetGroups>,
) -> Result<axum::Json<MemberGroups>, ApiError> {
    let tenant = owned_tenant(&state, &id, &caller.acting_for(query.user_id())?).await?;
    let role = member_role(&state, &tenant.uuid, &member_id).await?;
    if role != Role::Member {
        return Err(ApiError::new(
            http::StatusCode::CONFLICT,
            format!("account groups limit members of the role member; this one is {role}"),
        ));
    }
    let mut groups = body.account_groups;
    groups.sort();
    groups.dedup();
    if groups.len() > DEFAULT_MAX_BUCKETS {
        return Err(ApiError::invalid(format!(
            "at most {DEFAULT_MAX_BUCKETS} account groups"
        )));
    }
    let tenant_id = tenant_id(&tenant.uuid)?;
    let engine = state.sync.engine();
    for group in &groups {
        let known = engine
            .get::<AccountGroup>(&tenant_id, group)
            .await
            .map_err(|error| ApiError::unavailable(error.to_string()))?;
        if known.is_none() {
            return Err(ApiError::invalid(format!(
                "the tenant has no account group {group:?}"
            )));
        }
    }
    let accounts = state
        .grants
        .set_groups(&tenant_id, &member_id, groups.clone())
        .await
        .map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant.uuid, member = %member_id, groups = groups.len(), accounts = accounts.len(), "set a member's account groups");
    Ok(axum::Json(MemberGroups {
        user_id: member_id,
        account_groups: groups,
        accounts: Some(accounts),
    }))
}

/// Removes every grant of `member`: when it leaves the tenant or the role `member`.
pub(crate) async fn clear(state: &AppState, tenant: &str, member: &str) -> Result<(), ApiError> {
    state
        .grants
        .set_groups(&tenant_id(tenant)?, member, Vec::new())
        .await
        .map(drop)
        .map_err(ApiError::unavailable)
}

/// The role of `member` in `tenant`; 404 when it is no member.
async fn member_role(state: &AppState, tenant: &str, member: &str) -> Result<Role, ApiError> {
    state
        .auth_db
        .role_in(tenant, member)
        .await?
        .ok_or_else(|| ApiError::not_found("Member not found"))
}

fn tenant_id(tenant: &str) -> Result<TenantId, ApiError> {
    TenantId::new(tenant).map_err(|error| crate::Error::Store(error.into()).into())
}
