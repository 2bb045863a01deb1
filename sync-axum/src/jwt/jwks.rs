//! Asymmetric JWTs of an identity provider (RS256, ES256, EdDSA, …), verified against its
//! JSON Web Key Set: [`Jwks`] loads and caches the keys, [`JwksAuthenticator`] checks the
//! tokens.
//!
//! The key set comes from a file or a URL (`https://`; plain `http://` only to a loopback
//! address, for tests). It is fetched on first use, again when it is older than its
//! [`max_age`](Jwks::max_age), and again when a token names an unknown key id (the
//! provider rotated its keys) but no more often than [`min_refresh`](Jwks::min_refresh),
//! so tokens with made-up key ids cannot make the server fetch in a loop. A fetch is
//! bounded by [`max_bytes`](Jwks::max_bytes) and [`fetch_timeout`](Jwks::fetch_timeout);
//! when it fails the keys already held stay in use, and with none the connection is
//! refused as [`Refusal::Unavailable`] (503, the client retries).
//!
//! Tokens must carry a `kid`, an asymmetric `alg` that the key's type allows (an HS256
//! token "signed" with a public key is refused), `exp` and `sub`; the issuer and audience
//! are checked when configured, with [`leeway`](JwksAuthenticator::leeway) seconds of clock
//! skew; the tenants a token grants are read from the claim
//! [`tenants_claim`](JwksAuthenticator::tenants_claim) (a list of strings or one
//! space-separated string).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sync_core::TenantId;
use tokio::sync::Mutex;

use super::{DEFAULT_COOKIE, Error, ErrorKind, FOREIGN_ORIGIN};
use crate::auth::{
    Authenticator, Credential, Principal, Refusal, origin_allowed, request_credential,
};

/// The algorithms a [`JwksAuthenticator`] accepts: asymmetric ones only.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Url(String),
}

struct Key {
    decoding: DecodingKey,
    /// The key's `alg`, when the set names one.
    algorithm: Option<Algorithm>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<Key>>,
    fetched_at: Option<Instant>,
    /// The last fetch attempt, failed ones included: the rate limit.
    attempted_at: Option<Instant>,
}

/// A JSON Web Key Set, loaded on demand and cached. Cheap to clone; clones share the cache.
///
/// From a file or a URL (`https://`; plain `http://` only to a loopback address, for
/// tests). Fetched on first use, again when older than [`max_age`](Self::max_age), and
/// again when a token names an unknown key id, but no more often than
/// [`min_refresh`](Self::min_refresh). A fetch is bounded by [`max_bytes`](Self::max_bytes)
/// and [`fetch_timeout`](Self::fetch_timeout); when it fails the keys held stay in use,
/// and with none a connection is refused as [`Refusal::Unavailable`] (503).
#[derive(Clone)]
pub struct Jwks {
    source: Source,
    max_bytes: usize,
    fetch_timeout: Duration,
    min_refresh: Duration,
    max_age: Duration,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    fn with(source: Source) -> Jwks {
        Jwks {
            source,
            max_bytes: 64 * 1024,
            fetch_timeout: Duration::from_secs(5),
            min_refresh: Duration::from_secs(30),
            max_age: Duration::from_secs(3600),
            cache: Arc::default(),
        }
    }

    /// The key set in the file `path`, read on first use and again like a fetched one.
    pub fn from_file(path: impl Into<PathBuf>) -> Jwks {
        Jwks::with(Source::File(path.into()))
    }

    /// The key set at `url`: `https://`, or `http://` to a loopback address (tests).
    pub fn from_url(url: &str) -> Result<Jwks, Error> {
        let parsed = reqwest::Url::parse(url).map_err(|error| {
            Error::with_source(
                ErrorKind::Config,
                format!("invalid JWKS URL {url:?}"),
                error,
            )
        })?;
        let loopback = parsed.host_str().is_some_and(|host| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("the JWKS URL {url:?} must be https:// (http:// only to loopback)"),
                ));
            }
        }
        Ok(Jwks::with(Source::Url(url.to_owned())))
    }

    /// The largest key set accepted, in bytes. Default 64 KiB.
    pub fn max_bytes(mut self, bytes: usize) -> Jwks {
        self.max_bytes = bytes;
        self
    }

    /// How long one fetch may take. Default 5 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Jwks {
        self.fetch_timeout = timeout;
        self
    }

    /// The least time between two fetches caused by unknown key ids. Default 30 s.
    pub fn min_refresh(mut self, interval: Duration) -> Jwks {
        self.min_refresh = interval;
        self
    }

    /// How long a fetched key set is used before it is fetched again. Default 1 h.
    pub fn max_age(mut self, age: Duration) -> Jwks {
        self.max_age = age;
        self
    }

    /// Fetches the key set now, e.g. at startup to fail early; how many keys it holds.
    pub async fn load(&self) -> Result<usize, Error> {
        let mut cache = self.cache.lock().await;
        cache.attempted_at = Some(Instant::now());
        self.refresh(&mut cache).await?;
        Ok(cache.keys.len())
    }

    /// The key `kid`: from the cache, else after a (rate-limited) fetch. `Ok(None)`: the
    /// set does not hold it. `Err`: no key set could be had.
    async fn key(&self, kid: &str) -> Result<Option<Arc<Key>>, Error> {
        let mut cache = self.cache.lock().await;
        let stale = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        let unknown = !cache.keys.contains_key(kid);
        let may_fetch = cache
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh);
        if (stale || unknown) && may_fetch {
            cache.attempted_at = Some(Instant::now());
            if let Err(error) = self.refresh(&mut cache).await {
                if cache.fetched_at.is_none() {
                    return Err(error);
                }
                tracing::warn!(%error, "cannot refresh the JWKS; keeping the keys held");
            }
        }
        if cache.fetched_at.is_none() {
            return Err(Error::new(
                ErrorKind::Fetch,
                "the JWKS could not be fetched; the next attempt is rate-limited",
            ));
        }
        Ok(cache.keys.get(kid).cloned())
    }

    async fn refresh(&self, cache: &mut Cache) -> Result<(), Error> {
        let fetched = tokio::time::timeout(self.fetch_timeout, self.read()).await;
        let bytes = fetched.map_err(|_| {
            Error::new(
                ErrorKind::Fetch,
                format!("the JWKS did not arrive within {:?}", self.fetch_timeout),
            )
        })??;
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|error| Error::with_source(ErrorKind::Key, "the JWKS is malformed", error))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            match DecodingKey::from_jwk(jwk) {
                Ok(decoding) => {
                    let algorithm = jwk
                        .common
                        .key_algorithm
                        .and_then(|alg| alg.to_string().parse::<Algorithm>().ok());
                    keys.insert(
                        kid,
                        Arc::new(Key {
                            decoding,
                            algorithm,
                        }),
                    );
                }
                Err(error) => tracing::warn!(%kid, %error, "skipped a JWKS key"),
            }
        }
        cache.fetched_at = Some(Instant::now());
        cache.keys = keys;
        Ok(())
    }

    async fn read(&self) -> Result<Vec<u8>, Error> {
        let too_big = || {
            Error::new(
                ErrorKind::Fetch,
                format!("the JWKS is larger than {} bytes", self.max_bytes),
            )
        };
        match &self.source {
            Source::File(path) => {
                let bytes = tokio::fs::read(path).await.map_err(|error| {
                    let message = format!("cannot read the JWKS {}", path.display());
                    Error::with_source(ErrorKind::Fetch, message, error)
                })?;
                if bytes.len() > self.max_bytes {
                    return Err(too_big());
                }
                Ok(bytes)
            }
            Source::Url(url) => {
                let fetch_error = |error: reqwest::Error| {
                    Error::with_source(
                        ErrorKind::Fetch,
                        format!("cannot fetch the JWKS {url}"),
                        error,
                    )
                };
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(fetch_error)?;
                let mut response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(fetch_error)?;
                if response
                    .content_length()
                    .is_some_and(|length| length > self.max_bytes as u64)
                {
                    return Err(too_big());
                }
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
                    if bytes.len() + chunk.len() > self.max_bytes {
                        return Err(too_big());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(bytes)
            }
        }
    }
}

/// Authenticates by an identity provider's JWT in `Authorization: Bearer` or a cookie,
/// verified against its [`Jwks`]. Tokens must carry a `kid`, an asymmetric `alg` that the
/// key's type allows (an HS256 token "signed" with a public key is refused), `exp` and
/// `sub`; the issuer and audience are checked when configured, with [`leeway`](Self::leeway)
/// seconds of clock skew; the tenants a token grants are read from the claim
/// [`tenants_claim`](Self::tenants_claim) (a list of strings or one space-separated string).
#[derive(Debug, Clone)]
pub struct JwksAuthenticator {
    jwks: Jwks,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
    tenants_claim: String,
    cookie: String,
    allowed_origins: Vec<String>,
}

impl JwksAuthenticator {
    /// Verifies with the keys of `jwks`; no issuer or audience check until configured.
    pub fn new(jwks: Jwks) -> JwksAuthenticator {
        JwksAuthenticator {
            jwks,
            issuer: None,
            audience: None,
            leeway: 30,
            tenants_claim: "tenants".to_owned(),
            cookie: DEFAULT_COOKIE.to_owned(),
            allowed_origins: Vec::new(),
        }
    }

    /// The required `iss`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> JwksAuthenticator {
        self.issuer = Some(issuer.into());
        self
    }

    /// The required `aud` (one of the token's audiences).
    pub fn audience(mut self, audience: impl Into<String>) -> JwksAuthenticator {
        self.audience = Some(audience.into());
        self
    }

    /// The clock skew allowed on `exp` and `nbf`. Default 30 s.
    pub fn leeway(mut self, leeway: Duration) -> JwksAuthenticator {
        self.leeway = leeway.as_secs();
        self
    }

    /// The claim that lists the tenants a token grants. Default `tenants`.
    pub fn tenants_claim(mut self, claim: impl Into<String>) -> JwksAuthenticator {
        self.tenants_claim = claim.into();
        self
    }

    /// Reads the token from the cookie `name` when there is no `Authorization` header.
    pub fn cookie(mut self, name: impl Into<String>) -> JwksAuthenticator {
        self.cookie = name.into();
        self
    }

    /// Browser origins besides the server's own whose pages may connect with the cookie.
    pub fn allowed_origins(
        mut self,
        origins: impl IntoIterator<Item = String>,
    ) -> JwksAuthenticator {
        self.allowed_origins = origins.into_iter().collect();
        self
    }

    /// The claims of `token` when it verifies.
    pub async fn verify(
        &self,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Refusal> {
        let unauthorized = |detail: &str| Refusal::Unauthorized(detail.to_owned());
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is malformed"))?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(unauthorized("the token's algorithm is not accepted"));
        }
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("the token names no key id"))?;
        let key = match self.jwks.key(&kid).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(unauthorized("the token's key id is unknown")),
            Err(error) => {
                tracing::error!(%error, "no JWKS to verify tokens with");
                return Err(Refusal::Unavailable(
                    "the identity provider's keys cannot be had now; retry later".to_owned(),
                ));
            }
        };
        if key
            .algorithm
            .is_some_and(|algorithm| algorithm != header.alg)
        {
            return Err(unauthorized("the token's algorithm does not match its key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = self.leeway;
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key.decoding,
            &validation,
        )
        .map(|data| data.claims)
        .map_err(|error| {
            unauthorized(match error.kind() {
                JwtErrorKind::ExpiredSignature => "the token has expired",
                JwtErrorKind::ImmatureSignature => "the token is not valid yet",
                JwtErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                JwtErrorKind::InvalidAudience => "the token's audience is not accepted",
                JwtErrorKind::InvalidSignature => "the token's signature does not verify",
                JwtErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key",
                _ => "the token is malformed",
            })
        })
    }
}

impl Authenticator for JwksAuthenticator {
    async fn authenticate(&self, request: &Parts, tenant: &TenantId) -> Result<Principal, Refusal> {
        let credential = request_credential(request, &self.cookie)
            .ok_or_else(|| Refusal::Unauthorized("no bearer token or session cookie".to_owned()))?;
        if matches!(credential, Credential::Cookie(_))
            && !origin_allowed(request, &self.allowed_origins)
        {
            return Err(Refusal::Forbidden(FOREIGN_ORIGIN.to_owned()));
        }
        let claims = self.verify(&credential.into_token()).await?;
        let subject = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                Refusal::Unauthorized("the token's subject is not a string".to_owned())
            })?;
        let granted = match claims.get(&self.tenants_claim) {
            Some(serde_json::Value::Array(tenants)) => tenants
                .iter()
                .any(|granted| granted.as_str() == Some(tenant.as_str())),
            Some(serde_json::Value::String(tenants)) => tenants
                .split_whitespace()
                .any(|granted| granted == tenant.as_str()),
            _ => false,
        };
        if !granted {
            return Err(Refusal::Forbidden(format!(
                "the token does not grant tenant {tenant}"
            )));
        }
        let principal = Principal::new(subject, tenant.clone());
        Ok(
            match claims.get("sid").and_then(serde_json::Value::as_str) {
                Some(session) => principal.in_session(session),
                None => principal,
            },
        )
    }
}
