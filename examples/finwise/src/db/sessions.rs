//! Login sessions: one row per login, named by the `sid` of its token. A token is valid only
//! while its row exists and has not expired, so a logout (which deletes the row) revokes the
//! token on every node at once, long before the token itself expires.

use std::time::Duration;

use sync_core::version::Version;

use super::{AuthDb, on_pool};
use crate::error::Result;

impl AuthDb {
    /// Starts a login session of `user_id` lasting `lifetime`; its id. Sessions that have
    /// expired are removed on the way, so the table holds only live ones.
    pub async fn create_session(&self, user_id: &str, lifetime: Duration) -> Result<String> {
        let now = Version::now();
        let millis = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires_at = now.add_millis(millis);
        let id = uuid::Uuid::new_v4().to_string();
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM login_sessions WHERE expires_at <= $1"
        )
        .bind(now.to_string())
        .execute(pool)
        .await
        .map(|_| ()))?;
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO login_sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(now.to_string())
        .bind(expires_at.to_string())
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(id)
    }

    /// Whether the login session `id` of `user_id` exists and has not expired.
    pub async fn session_active(&self, id: &str, user_id: &str) -> Result<bool> {
        let found: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT id FROM login_sessions WHERE id = $1 AND user_id = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(user_id)
        .bind(Version::now().to_string())
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }

    /// Ends the login session `id`: every token naming it stops working. Whether it existed.
    pub async fn revoke_session(&self, id: &str) -> Result<bool> {
        let removed = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM login_sessions WHERE id = $1"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(removed == 1)
    }
}
