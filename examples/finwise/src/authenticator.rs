//! [`FinwiseAuthenticator`]: who may open a sync connection to which tenant.

use http::request::Parts;
use sync_axum::auth::{Authenticator, Principal, Refusal, request_token};
use sync_axum::jwt::JwtKeys;
use sync_core::TenantId;

use crate::db::AuthDb;
use crate::session::SESSION_COOKIE;

/// Admits a sync connection when its session token (cookie `session` or
/// `Authorization: Bearer`) verifies and the tenant exists in the auth database and belongs
/// to the token's subject. Tenant ownership is read from the database on every connection,
/// not from the token, so tenants created after login work and deleted ones stop working.
///
/// A sync connection never creates a tenant: an unknown tenant is
/// [`Refusal::Forbidden`]`("unknown tenant")`.
///
/// With [`dev_open_access`](Self::dev_open_access) (INSECURE) no token is needed, but the
/// tenant must still exist; the connection acts for the tenant's owner.
#[derive(Debug, Clone)]
pub struct FinwiseAuthenticator {
    db: AuthDb,
    keys: JwtKeys,
    dev_open_access: bool,
}

impl FinwiseAuthenticator {
    /// Checks tokens with `keys` and ownership in `db`.
    pub fn new(db: AuthDb, keys: JwtKeys) -> FinwiseAuthenticator {
        FinwiseAuthenticator {
            db,
            keys,
            dev_open_access: false,
        }
    }

    /// INSECURE, development only: admit connections without a token.
    pub fn dev_open_access(mut self, open: bool) -> FinwiseAuthenticator {
        self.dev_open_access = open;
        self
    }

    async fn owner(&self, tenant: &TenantId) -> Result<String, Refusal> {
        match self.db.tenant(tenant.as_str()).await {
            Ok(Some(record)) => Ok(record.user_id),
            Ok(None) => Err(Refusal::Forbidden("unknown tenant".to_owned())),
            Err(error) => {
                tracing::error!(%tenant, %error, "cannot check tenant ownership");
                Err(Refusal::Forbidden(
                    "tenant access cannot be checked now".to_owned(),
                ))
            }
        }
    }
}

impl Authenticator for FinwiseAuthenticator {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        if self.dev_open_access {
            let owner = self.owner(tenant).await?;
            return Ok(Principal {
                subject: owner,
                tenant: tenant.clone(),
            });
        }
        let token = request_token(request, SESSION_COOKIE)
            .ok_or_else(|| Refusal::Unauthorized("no bearer token or session cookie".to_owned()))?;
        let claims = self.keys.verify(&token)?;
        if self.owner(tenant).await? != claims.sub {
            return Err(Refusal::Forbidden(
                "the tenant belongs to another user".to_owned(),
            ));
        }
        Ok(Principal {
            subject: claims.sub,
            tenant: tenant.clone(),
        })
    }
}
