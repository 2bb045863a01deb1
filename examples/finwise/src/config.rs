//! What the server is configured with; `main.rs` fills it from the command line.

use std::path::PathBuf;
use std::time::Duration;

/// The default lifetime of a login session (and of its token): 7 days.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The shortest JWT secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The server's configuration. Build it with [`Config::new`] and set the fields you need.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where `auth.db`, `jwt-secret` and every tenant's `<tenant>.db` live.
    pub data_dir: PathBuf,
    /// The HS256 secret for session tokens, at least [`MIN_SECRET_LEN`] bytes. When `None`
    /// the secret in `<data_dir>/jwt-secret` is used, generated on first start.
    pub jwt_secret: Option<Vec<u8>>,
    /// Origins allowed to call the API from a browser, with credentials, e.g.
    /// `http://localhost:5173`. Empty: no CORS headers (same-origin use only).
    pub cors_origins: Vec<String>,
    /// A built web frontend to serve at `/`, with unknown paths answered by its
    /// `index.html` (single-page app routing).
    pub static_dir: Option<PathBuf>,
    /// INSECURE, development only: trust the `user_id` a client sends instead of requiring
    /// a session, and let sync connections in without a token (for existing tenants).
    pub dev_open_access: bool,
    /// Mark the session cookie `Secure`: set it when clients reach the server over HTTPS.
    pub secure_cookie: bool,
    /// How long a login lasts.
    pub session_lifetime: Duration,
    /// The bcrypt cost of new password hashes. Default [`bcrypt::DEFAULT_COST`] (12);
    /// tests lower it.
    pub bcrypt_cost: u32,
    /// The limits every sync connection is held to (message size, batch size, outbound
    /// queue, connections, ping and idle timings). Default [`sync_axum::Limits::default`].
    pub limits: sync_axum::Limits,
}

impl Config {
    /// The defaults, with data under `data_dir`: a generated secret, no CORS, no static
    /// files, authentication required, 7-day sessions.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            jwt_secret: None,
            cors_origins: Vec::new(),
            static_dir: None,
            dev_open_access: false,
            secure_cookie: false,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            bcrypt_cost: bcrypt::DEFAULT_COST,
            limits: sync_axum::Limits::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("cors_origins", &self.cors_origins)
            .field("static_dir", &self.static_dir)
            .field("dev_open_access", &self.dev_open_access)
            .field("secure_cookie", &self.secure_cookie)
            .field("session_lifetime", &self.session_lifetime)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("limits", &self.limits)
            .finish()
    }
}
