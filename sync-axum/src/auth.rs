//! Authentication of WebSocket upgrades: who the connection acts for, decided before the
//! upgrade from the request's headers, cookies and the tenant in its path.

use std::future::Future;
use std::time::Duration;

use http::StatusCode;
use http::request::Parts;
use sync_core::TenantId;

/// Who a connection acts for. The session's tenant comes from here and from nowhere else.
/// Build one with [`Principal::new`] (fields may be added).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The authenticated subject, e.g. a user id.
    pub subject: String,
    /// The tenant the connection is authorised for.
    pub tenant: TenantId,
    /// The login session the credential belongs to, when the authenticator knows one:
    /// [`ShutdownHandle::close_login_session`](crate::ShutdownHandle::close_login_session)
    /// closes every connection admitted under it (e.g. at logout). `None`: the connection
    /// ends only with the server, its tenant or its client.
    pub session: Option<String>,
    /// The subject's role in the tenant, when the app has roles (e.g. `viewer`): the
    /// session's writes pass the registry's rules with it
    /// ([`Actor::role`](sync_core::entity::Actor::role)).
    pub role: Option<String>,
}

impl Principal {
    /// `subject` acting in `tenant`, under no known login session.
    pub fn new(subject: impl Into<String>, tenant: TenantId) -> Principal {
        Principal {
            subject: subject.into(),
            tenant,
            session: None,
            role: None,
        }
    }

    /// The same principal, admitted under the login session `session`.
    pub fn in_session(mut self, session: impl Into<String>) -> Principal {
        self.session = Some(session.into());
        self
    }

    /// The same principal, with `role` in the tenant.
    pub fn with_role(mut self, role: impl Into<String>) -> Principal {
        self.role = Some(role.into());
        self
    }

    /// The actor the session's writes are made by: the subject, with its role.
    pub fn actor(&self) -> sync_core::entity::Actor {
        let actor = sync_core::entity::Actor::user(self.subject.as_str());
        match &self.role {
            Some(role) => actor.with_role(role.as_str()),
            None => actor,
        }
    }
}

/// How long a client is asked to wait (`Retry-After`) after [`Refusal::Unavailable`].
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why an upgrade was refused; answered before the upgrade with the status and the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No credentials, or credentials that do not verify: 401. A client asks its token
    /// provider for a new token, once; then it stops.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without access to the tenant: 403. A client stops.
    #[error("{0}")]
    Forbidden(String),
    /// The credentials cannot be checked now, e.g. the database of users or sessions is
    /// down: 503 with `Retry-After` ([`UNAVAILABLE_RETRY_AFTER`]). Nothing is wrong with
    /// the credentials; a client retries with backoff.
    #[error("{0}")]
    Unavailable(String),
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// How long the client should wait before it tries again (`Retry-After`), for a
    /// refusal that may pass by itself; `None` for one that will not.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER),
            Refusal::Unauthorized(_) | Refusal::Forbidden(_) => None,
        }
    }
}

/// Decides whether an upgrade request may sync `tenant`.
///
/// Implementations must refuse rather than guess: a missing or unverifiable credential is
/// [`Refusal::Unauthorized`], a valid one without access to `tenant` is
/// [`Refusal::Forbidden`], and a failure of what the check needs (an auth database, an
/// identity provider's keys) is [`Refusal::Unavailable`], never a 403: clients give up
/// after a 403 and retry after a 503. They run before the upgrade, once per connection.
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
        Ok(Principal::new("anonymous", tenant.clone()))
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, else the cookie `cookie_name`.
pub fn request_token(request: &Parts, cookie_name: &str) -> Option<String> {
    request_credential(request, cookie_name).map(Credential::into_token)
}

/// A token and where a request carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer …`: sent by code that holds the token, never by a browser on
    /// its own.
    Bearer(String),
    /// A cookie: a browser sends it on its own, also on requests another site starts, so an
    /// upgrade authenticated by it must come from an allowed [origin](origin_allowed).
    Cookie(String),
}

impl Credential {
    /// The token.
    pub fn into_token(self) -> String {
        match self {
            Credential::Bearer(token) | Credential::Cookie(token) => token,
        }
    }
}

/// The credential of a request: `Authorization: Bearer …`, else the cookie `cookie_name`.
pub fn request_credential(request: &Parts, cookie_name: &str) -> Option<Credential> {
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
    match bearer {
        Some(token) => Some(Credential::Bearer(token.to_owned())),
        None => axum_extra::extract::cookie::CookieJar::from_headers(&request.headers)
            .get(cookie_name)
            .map(|cookie| Credential::Cookie(cookie.value().to_owned())),
    }
}

/// Whether a request's `Origin` may use a cookie to open a connection: no `Origin` at all
/// (a client that is not a browser: a page's requests always carry one), the server's own
/// origin (the `Origin`'s host and port equal the request's `Host`), or one of `allowed`
/// (full origins such as `http://localhost:5173`, compared ignoring case and a trailing
/// `/`). Everything else, `Origin: null` included, is another site: a page there must not
/// act with the visitor's cookie (cross-site WebSocket hijacking), so an authenticator
/// answers [`Refusal::Forbidden`].
///
/// ```
/// use sync_axum::auth::origin_allowed;
///
/// let upgrade = |origin: &str| {
///     http::Request::get("/ws/t")
///         .header("host", "sync.example.com")
///         .header("origin", origin)
///         .body(())
///         .unwrap()
///         .into_parts()
///         .0
/// };
/// let allowed = ["http://localhost:5173".to_owned()];
/// assert!(origin_allowed(&upgrade("https://sync.example.com"), &allowed));
/// assert!(origin_allowed(&upgrade("http://localhost:5173/"), &allowed));
/// assert!(!origin_allowed(&upgrade("https://evil.example"), &allowed));
/// assert!(!origin_allowed(&upgrade("null"), &allowed));
/// ```
pub fn origin_allowed(request: &Parts, allowed: &[String]) -> bool {
    let Some(origin) = request.headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if allowed.iter().any(|allowed| {
        allowed
            .trim()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(&origin)
    }) {
        return true;
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let host = request
        .headers
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| host.trim().to_ascii_lowercase());
    matches!((authority, host), (Some(authority), Some(host)) if !authority.is_empty() && authority == host)
}
