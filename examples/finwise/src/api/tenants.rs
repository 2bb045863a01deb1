//! Tenants: `GET`/`POST /tenants`, `PUT /tenants/{id}`, `DELETE /tenants/{id}/complete`.
//!
//! A tenant's record (owner and name) is in the auth database; its data is the sync
//! store's (with SQLite the database `<data_dir>/<id>.db`, with PostgreSQL its rows in the
//! shared tables), created here with the record and deleted with it. Deleting a tenant
//! closes its sync sessions on every node (through the bus) before its data goes.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sync_core::TenantId;
use sync_core::store::{AnyStore, Store};

use super::caller::{Caller, check_owner};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use crate::db::{Role, Tenant, TenantConflict};
use crate::state::AppState;

/// Tenant ids that would name one of the server's own files in the data directory.
const RESERVED_IDS: [&str; 1] = ["auth"];

/// The `?user_id=` of the tenant endpoints; defaults to the caller.
#[derive(Debug, Deserialize)]
pub(crate) struct UserQuery {
    #[serde(default)]
    user_id: Option<String>,
}

impl UserQuery {
    /// The `user_id` given, if any.
    pub(crate) fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
}

/// A tenant as `GET /tenants` lists it: with the user's role in it.
#[derive(Debug, Serialize)]
pub(crate) struct ListedTenant {
    #[serde(flatten)]
    tenant: Tenant,
    /// `owner`, `editor`, `member` or `viewer`: a client may adapt what it subscribes to
    /// (`finwise-cli` subscribes a `member` to its account groups' accounts).
    role: Role,
}

/// `GET /tenants?user_id=U`: the user's tenants, owned and shared with it, oldest first,
/// each with the user's role.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<UserQuery>,
) -> Result<axum::Json<Vec<ListedTenant>>, ApiError> {
    let user_id = caller.acting_for(query.user_id.as_deref())?;
    let mut listed = Vec::new();
    for tenant in state.auth_db.tenants_of(&user_id).await? {
        let role = if tenant.user_id == user_id {
            Role::Owner
        } else {
            // A membership removed since the list was read: no longer listed.
            match state.auth_db.role_in(&tenant.uuid, &user_id).await? {
                Some(role) => role,
                None => continue,
            }
        };
        listed.push(ListedTenant { tenant, role });
    }
    Ok(axum::Json(listed))
}

/// The body of `POST /tenants`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateTenant {
    #[serde(default)]
    uuid: Option<String>,
    name: String,
    #[serde(default)]
    user_id: Option<String>,
}

/// `POST /tenants`: records the tenant and creates its sync database. The id is the given
/// `uuid` (422 if it is not a valid tenant id) or a new UUID v4. 400 when the user already
/// has a tenant of that name or the id is taken; 404 for an unknown user.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateTenant>,
) -> Result<axum::Json<Tenant>, ApiError> {
    let user_id = caller.acting_for(body.user_id.as_deref())?;
    let name = valid_name(&body.name)?;
    let id = match body.uuid.as_deref().map(str::trim) {
        Some(given) if !given.is_empty() => {
            let id = TenantId::new(given).map_err(|error| ApiError::invalid(error.to_string()))?;
            if RESERVED_IDS
                .iter()
                .any(|reserved| reserved.eq_ignore_ascii_case(id.as_str()))
            {
                return Err(ApiError::invalid(format!("tenant id {id:?} is reserved")));
            }
            id
        }
        _ => TenantId::new(uuid::Uuid::new_v4().to_string())
            .map_err(|error| ApiError::invalid(error.to_string()))?,
    };
    if state.auth_db.user(&user_id).await?.is_none() {
        return Err(ApiError::not_found("User not found"));
    }
    let tenant = match state.auth_db.create_tenant(&id, name, &user_id).await? {
        Ok(tenant) => tenant,
        Err(TenantConflict::Name) => return Err(duplicate_name(name)),
        Err(TenantConflict::Id) => {
            return Err(ApiError::bad_request(format!("Tenant {id} already exists")));
        }
    };
    if let Err(error) = create_database(&state, &id).await {
        // Leave no tenant without a database.
        if let Err(undo) = state.auth_db.delete_tenant(id.as_str()).await {
            tracing::error!(tenant = %id, error = %undo, "cannot remove the record of a tenant whose database failed");
        }
        return Err(error.into());
    }
    tracing::info!(tenant = %id, user = %user_id, "created a tenant");
    Ok(axum::Json(tenant))
}

/// Creates `id`'s sync database with every registered table. Data left from before (a
/// tenant record lost without its data: a database file with SQLite, changes in the shared
/// tables with PostgreSQL) belongs to nobody now and is deleted first, so a new tenant
/// never starts with someone else's data.
async fn create_database(state: &AppState, id: &TenantId) -> crate::Result<()> {
    let orphaned = match &state.store {
        AnyStore::Sqlite(store) => tokio::fs::try_exists(store.database_path(id))
            .await
            .unwrap_or(true),
        _ => state.store.cursor(id).await? > 0,
    };
    if orphaned {
        tracing::warn!(tenant = %id, "deleting an orphaned database before creating the tenant");
        state.store.delete_tenant(id).await?;
    }
    state.store.cursor(id).await?;
    Ok(())
}

/// The body of `PUT /tenants/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct RenameTenant {
    name: String,
}

/// `PUT /tenants/{id}?user_id=U`: renames the tenant. 404 unknown, 403 not the owner,
/// 400 when the owner has another tenant of that name.
pub(crate) async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<UserQuery>,
    Json(body): Json<RenameTenant>,
) -> Result<axum::Json<Tenant>, ApiError> {
    let user_id = caller.acting_for(query.user_id.as_deref())?;
    let name = valid_name(&body.name)?;
    let tenant = owned_tenant(&state, &id, &user_id).await?;
    match state.auth_db.rename_tenant(&tenant.uuid, name).await? {
        Some(Ok(renamed)) => Ok(axum::Json(renamed)),
        Some(Err(_)) => Err(duplicate_name(name)),
        None => Err(ApiError::not_found("Tenant not found")),
    }
}

/// `DELETE /tenants/{id}/complete?user_id=U`: deletes the tenant's record, runs the
/// [`tenant_deleted`](AppState::tenant_deleted) hooks (which close its sync sessions), then
/// deletes its data. Answers the deleted tenant; 404 unknown, 403 not the owner.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<UserQuery>,
) -> Result<axum::Json<Tenant>, ApiError> {
    let user_id = caller.acting_for(query.user_id.as_deref())?;
    let tenant = owned_tenant(&state, &id, &user_id).await?;
    let tenant_id =
        TenantId::new(tenant.uuid.as_str()).map_err(|error| crate::Error::Store(error.into()))?;
    if !state.auth_db.delete_tenant(&tenant.uuid).await? {
        return Err(ApiError::not_found("Tenant not found"));
    }
    state.tenant_deleted.run(&tenant_id).await;
    state
        .store
        .delete_tenant(&tenant_id)
        .await
        .map_err(crate::Error::from)?;
    tracing::info!(tenant = %tenant_id, user = %user_id, "deleted a tenant and its data");
    Ok(axum::Json(tenant))
}

/// The tenant `id`, if `user_id` owns it: 404 if it does not exist, 403 if someone else
/// owns it.
pub(crate) async fn owned_tenant(
    state: &AppState,
    id: &str,
    user_id: &str,
) -> Result<Tenant, ApiError> {
    let tenant = state
        .auth_db
        .tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant not found"))?;
    check_owner(user_id, &tenant.user_id)?;
    Ok(tenant)
}

fn valid_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(ApiError::invalid("name must be at most 200 characters"));
    }
    Ok(name)
}

fn duplicate_name(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Tenant with name '{name}' already exists for this user"
    ))
}
