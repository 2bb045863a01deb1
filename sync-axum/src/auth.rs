//! Authentication of WebSocket upgrades: who the connection acts for, decided before the
//! upgrade from the request's headers, cookies and the tenant in its path.

use std::future::Future;

use http::StatusCode;
use http::request::Parts;
use sync_core::TenantId;

/// Who a connection acts for. The session's tenant comes from here and from nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The authenticated subject, e.g. a user id.
    pub subject: String,
    /// The tenant the connection is authorised for.
    pub tenant: TenantId,
}

/// Why an upgrade was refused; answered before the upgrade with the status and the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No credentials, or credentials that do not verify: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without access to the tenant: 403.
    #[error("{0}")]
    Forbidden(String),
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }
}

/// Decides whether an upgrade request may sync `tenant`.
///
/// Implementations must refuse rather than guess: a missing or unverifiable credential is
/// [`Refusal::Unauthorized`], a valid one without access to `tenant` is
/// [`Refusal::Forbidden`]. They run before the upgrade, once per connection.
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticates `request` for `tenant`.
    fn authenticate(
        &self,
        request: &Parts,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Principal, Refusal>> + Send;
}

/// Lets every request in, as subject `anonymous`. For development only: anyone who can
/// reach the server can read and write every tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAccess;

impl Authenticator for OpenAccess {
    async fn authenticate(
        &self,
        _request: &Parts,
        tenant: &TenantId,
    ) -> Result<Principal, Refusal> {
        Ok(Principal {
            subject: "anonymous".to_owned(),
            tenant: tenant.clone(),
        })
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, else the cookie `cookie_name`.
pub fn request_token(request: &Parts, cookie_name: &str) -> Option<String> {
    let bearer = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty());
    bearer.map(str::to_owned).or_else(|| {
        axum_extra::extract::cookie::CookieJar::from_headers(&request.headers)
            .get(cookie_name)
            .map(|cookie| cookie.value().to_owned())
    })
}
