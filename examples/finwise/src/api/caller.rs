//! [`Caller`]: who is making a request, from the session cookie or bearer token.

use axum::extract::FromRequestParts;
use http::request::Parts;
use sync_axum::auth::request_token;

use super::error::ApiError;
use crate::session::{self, Rejected, SESSION_COOKIE};
use crate::state::AppState;

/// The authenticated user of a request. Extracting it answers 401 when the request has
/// no session cookie or bearer token, or one that does not verify or whose login session
/// ended (a logout), and 503 when the auth database cannot say.
///
/// In the INSECURE development mode a request needs no session; the `user_id` it names is
/// trusted, as the original FinWise backend did.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The verified user id, if the request carried a valid session.
    subject: Option<String>,
    /// Whether `user_id`s are trusted without a session (development mode).
    open: bool,
}

impl Caller {
    /// The user a request acts for: `requested` (a `user_id` from the query, body or path)
    /// if the caller may act for it, else the caller. 403 for another user's id.
    pub(crate) fn acting_for(&self, requested: Option<&str>) -> Result<String, ApiError> {
        match (requested, &self.subject) {
            (Some(requested), _) if self.open => Ok(requested.to_owned()),
            (Some(requested), Some(subject)) if requested == subject => Ok(requested.to_owned()),
            (Some(_), Some(_)) => Err(ApiError::forbidden("Not allowed to act for another user")),
            (None, Some(subject)) => Ok(subject.clone()),
            (_, None) => Err(ApiError::invalid("user_id is required")),
        }
    }
}

/// Checks that `acting_for` owns a tenant owned by `owner`: 403 otherwise.
pub(crate) fn check_owner(acting_for: &str, owner: &str) -> Result<(), ApiError> {
    if acting_for == owner {
        Ok(())
    } else {
        Err(ApiError::forbidden("Not the owner of this tenant"))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = request_token(parts, SESSION_COOKIE);
        let verified = match token.as_deref() {
            Some(token) => Some(session::verify(&state.auth_db, &state.keys, token).await),
            None => None,
        };
        match verified {
            Some(Ok(claims)) => Ok(Caller {
                subject: Some(claims.sub),
                open: state.dev_open_access,
            }),
            _ if state.dev_open_access => Ok(Caller {
                subject: None,
                open: true,
            }),
            Some(Err(Rejected::Refused(refusal))) => {
                Err(ApiError::unauthorized(refusal.to_string()))
            }
            Some(Err(Rejected::Unavailable(error))) => {
                tracing::error!(%error, "cannot check a login session");
                Err(ApiError::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "sessions cannot be checked now; retry later",
                ))
            }
            None => Err(ApiError::unauthorized("Not authenticated")),
        }
    }
}
