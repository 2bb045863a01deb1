//! The login session: an HS256 token in an HttpOnly cookie, or sent as a bearer token.

use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::config::Config;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = sync_axum::jwt::DEFAULT_COOKIE;

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
