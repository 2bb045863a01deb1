//! [`FinwiseAuthenticator`]: who may open a sync connection to which tenant.

use http::request::Parts;
use sync_axum::auth::{
    Authenticator, Credential, Principal, Refusal, origin_allowed, request_credential,
};
use sync_axum::jwt::{FOREIGN_ORIGIN, JwtKeys};
use sync_core::TenantId;

use crate::db::{AuthDb, Role};
use crate::session::{self, Rejected, SESSION_COOKIE};

/// Admits a sync connection when its session token (cookie `session` or
/// `Authorization: Bearer`) verifies, its login session has not ended (see
/// the [`session`] module), and the tenant exists in the auth database and the token's
/// subject is its owner or one of its members. Access is read from the database on every
/// connection, not from the token, so tenants created or shared after login work and
/// deleted or unshared ones stop working. The connection acts with the subject's
/// [`Role`] in the tenant (see [`crate::entities::registry`]: a viewer's writes are
/// refused) and is admitted under the token's login session, so a logout closes it.
///
/// A connection authenticated by the cookie must come from a page of the server's own
/// origin or of an [allowed origin](Self::allowed_origins) (the `--cors-origin` list):
/// another site's page would otherwise open it with its visitor's cookie (cross-site
/// WebSocket hijacking). Other origins are [`Refusal::Forbidden`] (403). A client that
/// sends the token as a bearer token, or sends no `Origin`, is not a page acting on its own.
///
/// A sync connection never creates a tenant: an unknown tenant is
/// [`Refusal::Forbidden`]`("unknown tenant")`. When the auth database fails, the answer is
/// [`Refusal::Unavailable`] (503 with `Retry-After`): the client retries later rather than
/// giving up on credentials that may be fine.
///
/// With [`dev_open_access`](Self::dev_open_access) (INSECURE) no token is needed, but the
/// tenant must still exist; the connection acts for the tenant's owner.
#[derive(Debug, Clone)]
pub struct FinwiseAuthenticator {
    db: AuthDb,
    keys: JwtKeys,
    dev_open_access: bool,
    allowed_origins: Vec<String>,
}

impl FinwiseAuthenticator {
    /// Checks tokens with `keys` and sessions and ownership in `db`.
    pub fn new(db: AuthDb, keys: JwtKeys) -> FinwiseAuthenticator {
        FinwiseAuthenticator {
            db,
            keys,
            dev_open_access: false,
            allowed_origins: Vec::new(),
        }
    }

    /// INSECURE, development only: admit connections without a token.
    pub fn dev_open_access(mut self, open: bool) -> FinwiseAuthenticator {
        self.dev_open_access = open;
        self
    }

    /// Origins besides the server's own whose pages may connect with the session cookie,
    /// e.g. `http://localhost:5173`: the server's `--cors-origin` list.
    pub fn allowed_origins(
        mut self,
        origins: impl IntoIterator<Item = String>,
    ) -> FinwiseAuthenticator {
        self.allowed_origins = origins.into_iter().collect();
        self
    }

    async fn role(&self, tenant: &TenantId, user_id: &str) -> Result<Role, Refusal> {
        match self.db.role_in(tenant.as_str(), user_id).await {
            Ok(Some(role)) => Ok(role),
            Ok(None) => match self.db.tenant(tenant.as_str()).await {
                Ok(Some(_)) => Err(Refusal::Forbidden(
                    "the tenant belongs to another user".to_owned(),
                )),
                Ok(None) => Err(Refusal::Forbidden("unknown tenant".to_owned())),
                Err(error) => Err(unavailable(tenant, &error)),
            },
            Err(error) => Err(unavailable(tenant, &error)),
        }
    }

    async fn owner(&self, tenant: &TenantId) -> Result<String, Refusal> {
        match self.db.tenant(tenant.as_str()).await {
            Ok(Some(record)) => Ok(record.user_id),
            Ok(None) => Err(Refusal::Forbidden("unknown tenant".to_owned())),
            Err(error) => {
                tracing::error!(%tenant, %error, "cannot check tenant ownership");
                Err(Refusal::Unavailable(
                    "tenant access cannot be checked now; retry later".to_owned(),
                ))
            }
        }
    }
}

impl Authenticator for FinwiseAuthenticator {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        if self.dev_open_access {
            let owner = self.owner(tenant).await?;
            return Ok(Principal::new(owner, tenant.clone()).with_role(Role::Owner.as_str()));
        }
        let credential = request_credential(request, SESSION_COOKIE)
            .ok_or_else(|| Refusal::Unauthorized("no bearer token or session cookie".to_owned()))?;
        if matches!(credential, Credential::Cookie(_))
            && !origin_allowed(request, &self.allowed_origins)
        {
            let origin = request.headers.get(http::header::ORIGIN);
            tracing::warn!(%tenant, ?origin, "refused a cookie from a foreign origin");
            return Err(Refusal::Forbidden(FOREIGN_ORIGIN.to_owned()));
        }
        let claims = match session::verify(&self.db, &self.keys, &credential.into_token()).await {
            Ok(claims) => claims,
            Err(Rejected::Refused(refusal)) => return Err(refusal),
            Err(Rejected::Unavailable(error)) => {
                tracing::error!(%tenant, %error, "cannot check a login session");
                return Err(Refusal::Unavailable(
                    "the session cannot be checked now; retry later".to_owned(),
                ));
            }
        };
        let role = self.role(tenant, &claims.sub).await?;
        let principal = Principal::new(claims.sub, tenant.clone()).with_role(role.as_str());
        Ok(match claims.sid {
            Some(sid) => principal.in_session(sid),
            None => principal,
        })
    }
}

fn unavailable(tenant: &TenantId, error: &crate::Error) -> Refusal {
    tracing::error!(%tenant, %error, "cannot check tenant access");
    Refusal::Unavailable("tenant access cannot be checked now; retry later".to_owned())
}
