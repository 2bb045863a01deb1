//! User settings: the frontend's logging preferences and history retention.

use serde::{Deserialize, Serialize};
use sync_core::version::Version;

use super::{AuthDb, on_pool, read_time};
use crate::error::Result;

/// A user's settings: `{"user_id","log_level","log_categories","history_retention_days","updated_at"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// The user's id.
    pub user_id: String,
    /// The frontend's log level, e.g. `INFO`.
    pub log_level: String,
    /// The log categories the frontend records.
    pub log_categories: Vec<String>,
    /// How many days of history the frontend keeps.
    pub history_retention_days: i64,
    /// When the settings last changed.
    pub updated_at: Version,
}

impl Settings {
    /// The log level of a user who never saved settings.
    pub const DEFAULT_LOG_LEVEL: &'static str = "INFO";
    /// The log categories of a user who never saved settings.
    pub const DEFAULT_LOG_CATEGORIES: [&'static str; 3] = ["store", "ui", "service"];
    /// The history retention of a user who never saved settings, in days.
    pub const DEFAULT_HISTORY_RETENTION_DAYS: i64 = 60;

    /// The defaults, versioned `since` (the user's creation): `INFO`,
    /// `["store","ui","service"]`, 60 days.
    pub fn defaults(user_id: &str, since: Version) -> Settings {
        Settings {
            user_id: user_id.to_owned(),
            log_level: Settings::DEFAULT_LOG_LEVEL.to_owned(),
            log_categories: Settings::DEFAULT_LOG_CATEGORIES.map(str::to_owned).to_vec(),
            history_retention_days: Settings::DEFAULT_HISTORY_RETENTION_DAYS,
            updated_at: since,
        }
    }

    /// These settings with `update`'s fields applied; fields it leaves out keep their value.
    pub fn merge(mut self, update: SettingsUpdate) -> Settings {
        if let Some(level) = update.log_level {
            self.log_level = level.to_ascii_uppercase();
        }
        if let Some(categories) = update.log_categories {
            self.log_categories = categories;
        }
        if let Some(days) = update.history_retention_days {
            self.history_retention_days = days;
        }
        self
    }
}

/// The body of `PUT /api/v1/user/settings/{user_id}`; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsUpdate {
    /// The new log level.
    #[serde(default)]
    pub log_level: Option<String>,
    /// The new log categories.
    #[serde(default)]
    pub log_categories: Option<Vec<String>>,
    /// The new history retention, in days.
    #[serde(default)]
    pub history_retention_days: Option<i64>,
    /// When the client made the change; an update older than the stored settings is
    /// ignored (last write wins).
    #[serde(default)]
    pub updated_at: Option<Version>,
}

impl AuthDb {
    /// `user_id`'s saved settings, if they ever saved any.
    pub async fn settings(&self, user_id: &str) -> Result<Option<Settings>> {
        let row: Option<(String, String, i64, String)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT log_level, log_categories, history_retention_days, updated_at
             FROM user_settings WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        let Some((log_level, categories, history_retention_days, updated_at)) = row else {
            return Ok(None);
        };
        let log_categories = serde_json::from_str(&categories).unwrap_or_else(|error| {
            tracing::warn!(user_id, %error, "unreadable stored log categories; using the defaults");
            Settings::DEFAULT_LOG_CATEGORIES.map(str::to_owned).to_vec()
        });
        Ok(Some(Settings {
            user_id: user_id.to_owned(),
            log_level,
            log_categories,
            history_retention_days,
            updated_at: read_time(&updated_at)?,
        }))
    }

    /// Saves `settings`, replacing the user's previous ones.
    pub async fn save_settings(&self, settings: &Settings) -> Result<()> {
        let categories = serde_json::Value::from(settings.log_categories.clone()).to_string();
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO user_settings (user_id, log_level, log_categories, history_retention_days, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id) DO UPDATE SET log_level = excluded.log_level,
                 log_categories = excluded.log_categories,
                 history_retention_days = excluded.history_retention_days,
                 updated_at = excluded.updated_at",
        )
        .bind(&settings.user_id)
        .bind(&settings.log_level)
        .bind(categories)
        .bind(settings.history_retention_days)
        .bind(settings.updated_at.to_string())
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }
}
