//! Users: who can log in.

use serde::Serialize;
use sync_core::version::Version;

use super::{AuthDb, Unique, fold, on_pool, read_time, violates};
use crate::error::Result;

/// A user as the API shows it: `{"uuid","name","email","createdAt","updatedAt"}`. The
/// password hash never leaves the database module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user's id.
    pub uuid: String,
    /// The user name, as registered.
    pub name: String,
    /// The email address, as registered.
    pub email: String,
    /// When the user registered.
    #[serde(rename = "createdAt")]
    pub created_at: Version,
    /// When the user last changed.
    #[serde(rename = "updatedAt")]
    pub updated_at: Version,
}

/// A user to register.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// The user name.
    pub name: &'a str,
    /// The email address.
    pub email: &'a str,
    /// The bcrypt hash of the password.
    pub password_hash: &'a str,
}

/// Why a user could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserConflict {
    /// Another user has this email, ignoring case.
    Email,
    /// Another user has this name, ignoring case.
    Name,
}

type UserRow = (String, String, String, String, String);

const COLUMNS: &str = "uuid, name, email, created_at, updated_at";

fn user((uuid, name, email, created_at, updated_at): UserRow) -> Result<User> {
    Ok(User {
        uuid,
        name,
        email,
        created_at: read_time(&created_at)?,
        updated_at: read_time(&updated_at)?,
    })
}

impl AuthDb {
    /// Registers a user under a new UUID, unless the email or the name is taken (ignoring
    /// case); the email is checked first.
    pub async fn create_user(&self, new: NewUser<'_>) -> Result<Result<User, UserConflict>> {
        let (name_key, email_key) = (fold(new.name), fold(new.email));
        let taken: Option<(String, String)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT email_key, name_key FROM users WHERE email_key = $1 OR name_key = $2 \
             ORDER BY email_key = $1 DESC LIMIT 1",
        )
        .bind(&email_key)
        .bind(&name_key)
        .fetch_optional(pool)
        .await)?;
        if let Some((taken_email, _)) = taken {
            return Ok(Err(if taken_email == email_key {
                UserConflict::Email
            } else {
                UserConflict::Name
            }));
        }
        let now = Version::now();
        let user = User {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: new.name.trim().to_owned(),
            email: new.email.trim().to_owned(),
            created_at: now,
            updated_at: now,
        };
        let inserted = on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO users (uuid, name, name_key, email, email_key, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&user.uuid)
        .bind(&user.name)
        .bind(&name_key)
        .bind(&user.email)
        .bind(&email_key)
        .bind(new.password_hash)
        .bind(now.to_string())
        .execute(pool)
        .await
        .map(|_| ())
        });
        match inserted {
            Ok(_) => Ok(Ok(user)),
            // Lost a race with a concurrent registration of the same email or name.
            Err(error) if violates(&error, Unique::UserEmail) => Ok(Err(UserConflict::Email)),
            Err(error) if violates(&error, Unique::UserName) => Ok(Err(UserConflict::Name)),
            Err(error) => Err(error.into()),
        }
    }

    /// The user whose email, else whose name, equals `login` ignoring case, with their
    /// password hash.
    pub async fn find_login(&self, login: &str) -> Result<Option<(User, String)>> {
        let key = fold(login);
        for column in ["email_key", "name_key"] {
            let query = format!("SELECT {COLUMNS}, password_hash FROM users WHERE {column} = $1");
            let row: Option<(String, String, String, String, String, String)> =
                on_pool!(self, |pool| sqlx::query_as(&query)
                    .bind(&key)
                    .fetch_optional(pool)
                    .await)?;
            if let Some((uuid, name, email, created_at, updated_at, hash)) = row {
                return Ok(Some((
                    user((uuid, name, email, created_at, updated_at))?,
                    hash,
                )));
            }
        }
        Ok(None)
    }

    /// The user whose email is `email`, ignoring case.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let query = format!("SELECT {COLUMNS} FROM users WHERE email_key = $1");
        let row: Option<UserRow> = on_pool!(self, |pool| sqlx::query_as(&query)
            .bind(fold(email))
            .fetch_optional(pool)
            .await)?;
        row.map(user).transpose()
    }

    /// The user with id `uuid`.
    pub async fn user(&self, uuid: &str) -> Result<Option<User>> {
        let query = format!("SELECT {COLUMNS} FROM users WHERE uuid = $1");
        let row: Option<UserRow> = on_pool!(self, |pool| sqlx::query_as(&query)
            .bind(uuid)
            .fetch_optional(pool)
            .await)?;
        row.map(user).transpose()
    }

    /// Replaces a user's password hash; for administration and migrations.
    pub async fn set_password_hash(&self, uuid: &str, password_hash: &str) -> Result<bool> {
        let changed = on_pool!(self, |pool| sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3 WHERE uuid = $1"
        )
        .bind(uuid)
        .bind(password_hash)
        .bind(Version::now().to_string())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(changed == 1)
    }
}
