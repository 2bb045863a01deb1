//! HS256 JSON Web Tokens: issued by an app's login, checked by [`JwtAuthenticator`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use sync_axum::auth::Authenticator;
//! use sync_axum::jwt::{JwtAuthenticator, JwtKeys};
//! use sync_core::TenantId;
//!
//! let keys = JwtKeys::from_secret(b"a long random secret of at least 32 bytes!");
//! let token = keys.issue("user-1", &["household"], Duration::from_secs(3600)).unwrap();
//!
//! let request = http::Request::get("/ws/household")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(())
//!     .unwrap()
//!     .into_parts()
//!     .0;
//! let authenticator = JwtAuthenticator::new(keys);
//! let household = TenantId::new("household").unwrap();
//! let principal = authenticator.authenticate(&request, &household).await.unwrap();
//! assert_eq!(principal.subject, "user-1");
//! let other = TenantId::new("other").unwrap();
//! assert!(authenticator.authenticate(&request, &other).await.is_err());
//! # });
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sync_core::TenantId;

use crate::auth::{
    Authenticator, Credential, Principal, Refusal, origin_allowed, request_credential,
};

mod error;
#[cfg(feature = "jwks")]
mod jwks;

pub use error::{Error, ErrorKind};
#[cfg(feature = "jwks")]
pub use jwks::{Jwks, JwksAuthenticator};

/// The cookie [`JwtAuthenticator`] reads when there is no `Authorization` header.
pub const DEFAULT_COOKIE: &str = "session";

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: a user id.
    pub sub: String,
    /// The tenants the token grants, if the issuer lists them.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Expiry, seconds since the epoch. Required.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: u64,
    /// The login session the token belongs to, for an app that keeps its sessions on the
    /// server so that a logout revokes the token before it expires. Absent when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The HS256 secret, for issuing and verifying.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a shared secret; use at least 32 random bytes.
    pub fn from_secret(secret: &[u8]) -> JwtKeys {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `subject` granting `tenants`, valid for `lifetime`.
    pub fn issue(
        &self,
        subject: &str,
        tenants: &[&str],
        lifetime: Duration,
    ) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: subject.to_owned(),
            tenants: tenants.iter().map(|tenant| (*tenant).to_owned()).collect(),
            exp: now + lifetime.as_secs(),
            iat: now,
            sid: None,
        };
        self.sign(&claims)
    }

    /// A token holding exactly `claims`, e.g. with a [`sid`](Claims::sid).
    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|error| Error::with_source(ErrorKind::Sign, "cannot sign the token", error))
    }

    /// The claims of `token`, if it is an unexpired HS256 token signed with these keys.
    pub fn verify(&self, token: &str) -> Result<Claims, Refusal> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| {
                Refusal::Unauthorized(match error.kind() {
                    JwtErrorKind::ExpiredSignature => "the token has expired".to_owned(),
                    JwtErrorKind::InvalidAlgorithm => {
                        "the token is not signed with HS256".to_owned()
                    }
                    JwtErrorKind::InvalidSignature => {
                        "the token's signature does not verify".to_owned()
                    }
                    _ => "the token is malformed".to_owned(),
                })
            })
    }
}

/// Authenticates by a JWT in `Authorization: Bearer` or a cookie: signature, algorithm
/// (HS256 only) and expiry are checked, and the tenant must be among the token's tenants.
/// An upgrade authenticated by the cookie must come from the server's own origin or an
/// [allowed one](Self::allowed_origins) (see [`origin_allowed`]): 403 otherwise.
#[derive(Debug, Clone)]
pub struct JwtAuthenticator {
    keys: JwtKeys,
    cookie: String,
    allowed_origins: Vec<String>,
}

impl JwtAuthenticator {
    /// Reads the token from `Authorization` or the cookie [`DEFAULT_COOKIE`].
    pub fn new(keys: JwtKeys) -> JwtAuthenticator {
        JwtAuthenticator {
            keys,
            cookie: DEFAULT_COOKIE.to_owned(),
            allowed_origins: Vec::new(),
        }
    }

    /// Browser origins besides the server's own (e.g. a development server's
    /// `http://localhost:5173`) whose pages may open a connection with the cookie.
    pub fn allowed_origins(
        mut self,
        origins: impl IntoIterator<Item = String>,
    ) -> JwtAuthenticator {
        self.allowed_origins = origins.into_iter().collect();
        self
    }

    /// Reads the token from the cookie `name` when there is no `Authorization` header.
    pub fn cookie(mut self, name: impl Into<String>) -> JwtAuthenticator {
        self.cookie = name.into();
        self
    }
}

impl Authenticator for JwtAuthenticator {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        let credential = request_credential(request, &self.cookie)
            .ok_or_else(|| Refusal::Unauthorized("no bearer token or session cookie".to_owned()))?;
        if matches!(credential, Credential::Cookie(_))
            && !origin_allowed(request, &self.allowed_origins)
        {
            return Err(Refusal::Forbidden(FOREIGN_ORIGIN.to_owned()));
        }
        let claims = self.keys.verify(&credential.into_token())?;
        if !claims
            .tenants
            .iter()
            .any(|granted| granted == tenant.as_str())
        {
            return Err(Refusal::Forbidden(format!(
                "the token does not grant tenant {tenant}"
            )));
        }
        let principal = Principal::new(claims.sub, tenant.clone());
        Ok(match claims.sid {
            Some(session) => principal.in_session(session),
            None => principal,
        })
    }
}

/// The detail of the refusal of a cookie from another site's page.
pub const FOREIGN_ORIGIN: &str =
    "the session cookie cannot be used from this origin; send a bearer token";
