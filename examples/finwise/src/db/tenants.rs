//! Tenants: which user owns which sync database.

use serde::Serialize;
use sync_core::TenantId;
use sync_core::version::Version;

use super::{AuthDb, Unique, on_pool, read_time, violates};
use crate::error::Result;

/// A tenant as the API shows it: `{"uuid","name","user_id","createdAt","updatedAt"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// The tenant's id, which names its sync database.
    pub uuid: String,
    /// Display name, unique among its owner's tenants.
    pub name: String,
    /// The owner's user id.
    pub user_id: String,
    /// When the tenant was created.
    #[serde(rename = "createdAt")]
    pub created_at: Version,
    /// When the tenant was last renamed.
    #[serde(rename = "updatedAt")]
    pub updated_at: Version,
}

/// Why a tenant could not be created or renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantConflict {
    /// The owner already has a tenant of this name.
    Name,
    /// A tenant with this id exists.
    Id,
}

type TenantRow = (String, String, String, String, String);

const COLUMNS: &str = "uuid, name, user_id, created_at, updated_at";

fn tenant((uuid, name, user_id, created_at, updated_at): TenantRow) -> Result<Tenant> {
    Ok(Tenant {
        uuid,
        name,
        user_id,
        created_at: read_time(&created_at)?,
        updated_at: read_time(&updated_at)?,
    })
}

impl AuthDb {
    /// `user_id`'s tenants, those it owns and those shared with it as a member, oldest
    /// first.
    pub async fn tenants_of(&self, user_id: &str) -> Result<Vec<Tenant>> {
        let query = format!(
            "SELECT {COLUMNS} FROM tenants WHERE user_id = $1
             OR uuid IN (SELECT tenant_id FROM tenant_members WHERE user_id = $1)
             ORDER BY created_at, name"
        );
        let rows: Vec<TenantRow> = on_pool!(self, |pool| sqlx::query_as(&query)
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(tenant).collect()
    }

    /// The tenant with id `uuid`.
    pub async fn tenant(&self, uuid: &str) -> Result<Option<Tenant>> {
        let query = format!("SELECT {COLUMNS} FROM tenants WHERE uuid = $1");
        let row: Option<TenantRow> = on_pool!(self, |pool| sqlx::query_as(&query)
            .bind(uuid)
            .fetch_optional(pool)
            .await)?;
        row.map(tenant).transpose()
    }

    /// Records tenant `id` named `name` for `user_id`, unless the user already has a
    /// tenant of that name or the id is taken. The user must exist.
    pub async fn create_tenant(
        &self,
        id: &TenantId,
        name: &str,
        user_id: &str,
    ) -> Result<Result<Tenant, TenantConflict>> {
        if self.name_taken(user_id, name, None).await? {
            return Ok(Err(TenantConflict::Name));
        }
        if self.tenant(id.as_str()).await?.is_some() {
            return Ok(Err(TenantConflict::Id));
        }
        let now = Version::now();
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO tenants (uuid, name, user_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(user_id)
        .bind(now.to_string())
        .execute(pool)
        .await
        .map(|_| ())
        });
        match inserted {
            Ok(_) => Ok(Ok(Tenant {
                uuid: id.as_str().to_owned(),
                name: name.to_owned(),
                user_id: user_id.to_owned(),
                created_at: now,
                updated_at: now,
            })),
            Err(error) if violates(&error, Unique::TenantName) => Ok(Err(TenantConflict::Name)),
            Err(error) if violates(&error, Unique::TenantId) => Ok(Err(TenantConflict::Id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Renames tenant `uuid`, unless its owner has another tenant of that name. Returns
    /// the renamed tenant, or `None` if it does not exist.
    pub async fn rename_tenant(
        &self,
        uuid: &str,
        name: &str,
    ) -> Result<Option<Result<Tenant, TenantConflict>>> {
        let Some(mut tenant) = self.tenant(uuid).await? else {
            return Ok(None);
        };
        if tenant.name == name {
            return Ok(Some(Ok(tenant)));
        }
        if self.name_taken(&tenant.user_id, name, Some(uuid)).await? {
            return Ok(Some(Err(TenantConflict::Name)));
        }
        let now = Version::now();
        let updated = on_pool!(self, |pool| sqlx::query(
            "UPDATE tenants SET name = $2, updated_at = $3 WHERE uuid = $1"
        )
        .bind(uuid)
        .bind(name)
        .bind(now.to_string())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()));
        match updated {
            Ok(0) => Ok(None),
            Ok(_) => {
                tenant.name = name.to_owned();
                tenant.updated_at = now;
                Ok(Some(Ok(tenant)))
            }
            Err(error) if violates(&error, Unique::TenantName) => {
                Ok(Some(Err(TenantConflict::Name)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Removes tenant `uuid`'s record; whether it existed. Its data is the store's to delete.
    pub async fn delete_tenant(&self, uuid: &str) -> Result<bool> {
        let deleted = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM tenants WHERE uuid = $1"
        )
        .bind(uuid)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(deleted == 1)
    }

    async fn name_taken(&self, user_id: &str, name: &str, except: Option<&str>) -> Result<bool> {
        let found: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT uuid FROM tenants WHERE user_id = $1 AND name = $2 AND uuid IS DISTINCT FROM $3",
        )
        .bind(user_id)
        .bind(name)
        .bind(except)
        .fetch_optional(pool)
        .await
        })?;
        Ok(found.is_some())
    }
}
