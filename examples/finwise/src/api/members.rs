//! A tenant's members: `POST`/`GET /tenants/{id}/members`,
//! `PATCH`/`DELETE /tenants/{id}/members/{user_id}`. Only the tenant's owner calls them
//! (403 for anyone else, 404 for an unknown tenant).
//!
//! A member is `editor` (reads and writes), `member` (an editor limited to the account
//! groups the owner gives it, `account_groups.rs`) or `viewer` (reads; every write is
//! NACKed `forbidden`); the owner is listed with the role `owner` and is no member row. When a
//! member's role changes or the member is removed, their open sync sessions of the tenant
//! are closed (1008, on every node): a removed member's client is refused when it
//! reconnects, a changed one reconnects with its new role.

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use sync_core::TenantId;

use super::caller::Caller;
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::tenants::{UserQuery, owned_tenant};
use crate::db::{Member, Role};
use crate::state::AppState;

/// The body of `POST /tenants/{id}/members`.
#[derive(Debug, Deserialize)]
pub(crate) struct AddMember {
    email: String,
    role: String,
}

/// The body of `PATCH /tenants/{id}/members/{user_id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangeRole {
    role: String,
}

/// `GET /tenants/{id}/members`: the owner, then the members by name.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<UserQuery>,
) -> Result<axum::Json<Vec<Member>>, ApiError> {
    let tenant = owned_tenant(&state, &id, &caller.acting_for(query.user_id())?).await?;
    Ok(axum::Json(state.auth_db.members(&tenant.uuid).await?))
}

/// `POST /tenants/{id}/members` `{"email","role"}`: shares the tenant with the user of that
/// email. 201 with the member; 404 for an unknown email, 400 when the user is the owner or
/// already a member, 422 for a role other than `editor` or `viewer`.
pub(crate) async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<UserQuery>,
    Json(body): Json<AddMember>,
) -> Result<(StatusCode, axum::Json<Member>), ApiError> {
    let tenant = owned_tenant(&state, &id, &caller.acting_for(query.user_id())?).await?;
    let role = member_role(&body.role)?;
    let user = state
        .auth_db
        .user_by_email(&body.email)
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    if user.uuid == tenant.user_id {
        return Err(ApiError::bad_request("The owner is not added as a member"));
    }
    if !state
        .auth_db
        .add_member(&tenant.uuid, &user.uuid, role)
        .await?
    {
        return Err(ApiError::bad_request(
            "The user is a member of this tenant already",
        ));
    }
    tracing::info!(tenant = %tenant.uuid, member = %user.uuid, %role, "added a member");
    let member = Member {
        user_id: user.uuid,
        name: user.name,
        email: user.email,
        role,
    };
    Ok((StatusCode::CREATED, axum::Json(member)))
}

/// `PATCH /tenants/{id}/members/{user_id}` `{"role"}`: gives the member another role and
/// closes their sessions of the tenant, which reconnect with it. 404 for no such member.
pub(crate) async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
    Query(query): Query<UserQuery>,
    Json(body): Json<ChangeRole>,
) -> Result<axum::Json<Member>, ApiError> {
    let tenant = owned_tenant(&state, &id, &caller.acting_for(query.user_id())?).await?;
    let role = member_role(&body.role)?;
    if !state
        .auth_db
        .set_member_role(&tenant.uuid, &member_id, role)
        .await?
    {
        return Err(ApiError::not_found("Member not found"));
    }
    if role != Role::Member {
        // Groups given to a `member` do not outlive the role.
        super::account_groups::clear(&state, &tenant.uuid, &member_id).await?;
    }
    let closed = close_sessions(&state, &tenant.uuid, &member_id)?;
    tracing::info!(tenant = %tenant.uuid, member = %member_id, %role, closed, "changed a member's role");
    let member = state
        .auth_db
        .members(&tenant.uuid)
        .await?
        .into_iter()
        .find(|member| member.user_id == member_id)
        .ok_or_else(|| ApiError::not_found("Member not found"))?;
    Ok(axum::Json(member))
}

/// `DELETE /tenants/{id}/members/{user_id}`: removes the member and closes their sessions
/// of the tenant; they can no longer connect to it. 204; 404 for no such member.
pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
    Query(query): Query<UserQuery>,
) -> Result<StatusCode, ApiError> {
    let tenant = owned_tenant(&state, &id, &caller.acting_for(query.user_id())?).await?;
    if !state
        .auth_db
        .remove_member(&tenant.uuid, &member_id)
        .await?
    {
        return Err(ApiError::not_found("Member not found"));
    }
    super::account_groups::clear(&state, &tenant.uuid, &member_id).await?;
    let closed = close_sessions(&state, &tenant.uuid, &member_id)?;
    tracing::info!(tenant = %tenant.uuid, member = %member_id, closed, "removed a member");
    Ok(StatusCode::NO_CONTENT)
}

/// A role a member may be given: `editor`, `member` or `viewer` (422 otherwise).
fn member_role(text: &str) -> Result<Role, ApiError> {
    match text.parse() {
        Ok(role @ (Role::Editor | Role::Member | Role::Viewer)) => Ok(role),
        _ => Err(ApiError::invalid(
            "role must be \"editor\", \"member\" or \"viewer\"",
        )),
    }
}

/// Closes `member`'s sync sessions of `tenant` on every node; how many this node closed.
fn close_sessions(state: &AppState, tenant: &str, member: &str) -> Result<usize, ApiError> {
    let tenant = TenantId::new(tenant).map_err(|error| crate::Error::Store(error.into()))?;
    Ok(state.sync.shutdown_handle().close_subject(&tenant, member))
}
