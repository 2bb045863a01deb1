//! User settings: `GET` and `PUT /api/v1/user/settings/{user_id}`.

use axum::extract::State;
use sync_core::version::Version;

use super::caller::Caller;
use super::error::ApiError;
use super::extract::{Json, Path};
use crate::db::{Settings, SettingsUpdate};
use crate::state::AppState;

/// The log levels the frontend knows.
const LOG_LEVELS: [&str; 6] = ["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL"];

/// `GET /api/v1/user/settings/{user_id}`: the saved settings, or the defaults (`INFO`,
/// `["store","ui","service"]`, 60) versioned at the user's registration, so any change a
/// client made is newer. 404 for an unknown user.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<axum::Json<Settings>, ApiError> {
    let user_id = caller.acting_for(Some(&user_id))?;
    Ok(axum::Json(current(&state, &user_id).await?))
}

/// `PUT /api/v1/user/settings/{user_id}`: saves the fields given, keeping the others.
/// An update whose `updated_at` is older than the saved settings changes nothing (last
/// write wins) and gets the saved settings back. 422 for an unknown log level or a
/// negative retention.
pub(crate) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    Json(update): Json<SettingsUpdate>,
) -> Result<axum::Json<Settings>, ApiError> {
    let user_id = caller.acting_for(Some(&user_id))?;
    if let Some(level) = &update.log_level
        && !LOG_LEVELS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(level))
    {
        return Err(ApiError::invalid(format!(
            "log_level must be one of {}",
            LOG_LEVELS.join(", ")
        )));
    }
    if update.history_retention_days.is_some_and(|days| days < 0) {
        return Err(ApiError::invalid(
            "history_retention_days must not be negative",
        ));
    }
    let stored = current(&state, &user_id).await?;
    let now = Version::now();
    let version = update.updated_at.map_or(now, |at| at.min(now));
    if version < stored.updated_at {
        return Ok(axum::Json(stored));
    }
    let mut settings = stored.merge(update);
    settings.updated_at = version;
    state.auth_db.save_settings(&settings).await?;
    Ok(axum::Json(settings))
}

async fn current(state: &AppState, user_id: &str) -> Result<Settings, ApiError> {
    let user = state
        .auth_db
        .user(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    match state.auth_db.settings(user_id).await? {
        Some(settings) => Ok(settings),
        None => Ok(Settings::defaults(user_id, user.created_at)),
    }
}
