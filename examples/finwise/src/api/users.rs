//! Accounts: `POST /register`, `POST /login`, `POST /logout`.

use axum::extract::State;
use axum_extra::extract::cookie::CookieJar;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::Json;
use crate::db::{NewUser, User, UserConflict};
use crate::state::AppState;
use crate::{password, session};

/// The body of `POST /register`.
#[derive(Debug, Deserialize)]
pub(crate) struct Register {
    name: String,
    email: String,
    password: String,
}

/// `POST /register`: 201 with the new user; 400 when the email or the name is taken
/// (ignoring case); 422 for an invalid email, an empty name, or a password that is empty or
/// longer than [`password::MAX_BYTES`] (bcrypt would ignore the rest).
pub(crate) async fn register(
    State(state): State<AppState>,
    Json(body): Json<Register>,
) -> Result<(StatusCode, axum::Json<User>), ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    if !is_email(body.email.trim()) {
        return Err(ApiError::invalid("value is not a valid email address"));
    }
    if body.password.is_empty() {
        return Err(ApiError::invalid("password must not be empty"));
    }
    if body.password.len() > password::MAX_BYTES {
        return Err(ApiError::invalid(password::TOO_LONG));
    }
    let password_hash = password::hash(&body.password, state.config.bcrypt_cost).await?;
    let new = NewUser {
        name: &body.name,
        email: &body.email,
        password_hash: &password_hash,
    };
    match state.auth_db.create_user(new).await? {
        Ok(user) => {
            tracing::info!(user = %user.uuid, "registered a user");
            Ok((StatusCode::CREATED, axum::Json(user)))
        }
        Err(UserConflict::Email) => Err(ApiError::bad_request("Email already registered")),
        Err(UserConflict::Name) => Err(ApiError::bad_request("Username already taken")),
    }
}

/// The body of `POST /login`.
#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    username_or_email: String,
    password: String,
}

/// The answer to a login: the user, and the session token for clients that send it as
/// `Authorization: Bearer` instead of relying on the cookie.
#[derive(Debug, Serialize)]
pub(crate) struct LoggedIn {
    #[serde(flatten)]
    user: User,
    access_token: String,
    token_type: &'static str,
}

/// `POST /login`: matches the email, then the name, ignoring case. 200 with the user and
/// `access_token`, and the session cookie set; 401 `Incorrect username or password`. Each
/// login starts its own login session (see [`session`]).
pub(crate) async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    Json(body): Json<Login>,
) -> Result<(CookieJar, axum::Json<LoggedIn>), ApiError> {
    let refused = || ApiError::unauthorized("Incorrect username or password");
    let Some((user, hash)) = state.auth_db.find_login(&body.username_or_email).await? else {
        password::verify_nothing(&body.password, state.config.bcrypt_cost).await;
        return Err(refused());
    };
    if !password::verify(&body.password, &hash).await {
        return Err(refused());
    }
    let token = session::start(
        &state.auth_db,
        &state.keys,
        &user.uuid,
        state.config.session_lifetime,
    )
    .await?;
    tracing::info!(user = %user.uuid, "logged in");
    let jar = jar.add(session::cookie(token.clone(), &state.config));
    Ok((
        jar,
        axum::Json(LoggedIn {
            user,
            access_token: token,
            token_type: "bearer",
        }),
    ))
}

/// `POST /logout`: ends the login session of the request's token (cookie or bearer), so
/// that token is refused from now on by every endpoint and every sync upgrade, closes this
/// node's sync connections of that session (1008 `logged out`), and removes the cookie.
/// Needs no valid session: without one it only removes the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    parts: http::request::Parts,
) -> Result<(CookieJar, axum::Json<serde_json::Value>), ApiError> {
    let token = sync_axum::auth::request_token(&parts, session::SESSION_COOKIE);
    let claims = token.and_then(|token| state.keys.verify(&token).ok());
    if let Some(claims) = claims
        && let Some(sid) = claims.sid
    {
        state.auth_db.revoke_session(&sid).await?;
        let closed = state.sync.shutdown_handle().close_login_session(&sid);
        tracing::info!(user = %claims.sub, closed, "logged out");
    }
    let jar = jar.add(session::removal(&state.config));
    Ok((
        jar,
        axum::Json(serde_json::json!({ "status": "logged_out" })),
    ))
}

/// A plausible email address: `local@domain.tld`, no spaces, at most 254 characters. The
/// server only needs it as a unique login name; deliverability is not checked.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::is_email;

    #[test]
    fn accepts_plausible_and_refuses_broken_emails() {
        for good in [
            "anna@example.com",
            "a.b+finwise@sub.example.de",
            "x@münchen.de",
        ] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.com",
            "anna@example",
            "a b@example.com",
            "a@b@c.de",
            "a@.de",
            "a@b..de",
            "a@-b.de",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
