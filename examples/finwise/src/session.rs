//! The login session: an HS256 token in an HttpOnly cookie, or sent as a bearer token, that
//! names a server-side session row (its `sid`).
//!
//! A token is accepted only while its login session lives in the auth database: `POST
//! /logout` deletes the row, so the token stops working at once for the REST API and for new
//! sync connections on every node, and this node's open sync connections of that session are
//! closed with 1008 `logged out`. Tokens without a `sid` (issued before sessions were kept)
//! are refused: their users log in again.

use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, SameSite};
use sync_axum::auth::Refusal;
use sync_axum::jwt::{Claims, JwtKeys};

use crate::config::Config;
use crate::db::AuthDb;
use crate::error::{Error, Result};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = sync_axum::jwt::DEFAULT_COOKIE;

/// Why a token was not accepted.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// It does not verify, has expired, or its login session ended: 401.
    Refused(Refusal),
    /// The auth database could not say whether its session lives.
    Unavailable(Error),
}

/// Starts a login session of `user_id` and issues its token.
pub(crate) async fn start(
    db: &AuthDb,
    keys: &JwtKeys,
    user_id: &str,
    lifetime: Duration,
) -> Result<String> {
    let sid = db.create_session(user_id, lifetime).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: user_id.to_owned(),
        tenants: Vec::new(),
        exp: now + lifetime.as_secs(),
        iat: now,
        sid: Some(sid),
    };
    keys.sign(&claims)
        .map_err(|error| Error::Token(error.to_string()))
}

/// The claims of `token` when it verifies, has not expired and names a live login session.
pub(crate) async fn verify(db: &AuthDb, keys: &JwtKeys, token: &str) -> Result<Claims, Rejected> {
    let claims = keys.verify(token).map_err(Rejected::Refused)?;
    let Some(sid) = claims.sid.as_deref() else {
        return Err(Rejected::Refused(Refusal::Unauthorized(
            "the token names no login session; log in again".to_owned(),
        )));
    };
    match db.session_active(sid, &claims.sub).await {
        Ok(true) => Ok(claims),
        Ok(false) => Err(Rejected::Refused(Refusal::Unauthorized(
            "the session has ended; log in again".to_owned(),
        ))),
        Err(error) => Err(Rejected::Unavailable(error)),
    }
}

/// The cookie that carries `token`: HttpOnly (scripts cannot read it), SameSite=Strict
/// (other sites cannot send it), Path=/, lasting the session's lifetime, and Secure when
/// configured.
pub(crate) fn cookie(token: String, config: &Config) -> Cookie<'static> {
    let seconds = i64::try_from(config.session_lifetime.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(config.secure_cookie)
        .max_age(time::Duration::seconds(seconds))
        .build()
}

/// A cookie that, when set, removes the session cookie.
pub(crate) fn removal(config: &Config) -> Cookie<'static> {
    let mut cookie = cookie(String::new(), config);
    cookie.make_removal();
    cookie
}
