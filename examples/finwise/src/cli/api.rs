//! The server's HTTP API (PROTOCOL.md part C): register, login, tenants. After login every
//! request carries `Authorization: Bearer <token>`.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::{Error, Result};
use super::profile::User;

/// A tenant as the server lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Tenant {
    pub(crate) uuid: String,
    pub(crate) name: String,
    /// The user's role in it; absent from servers older than the role `member`.
    #[serde(default)]
    pub(crate) role: Option<String>,
}

/// The answer to a login.
#[derive(Debug, Deserialize)]
pub(crate) struct LoggedIn {
    #[serde(flatten)]
    pub(crate) user: User,
    pub(crate) access_token: String,
}

/// A client of one server's HTTP API.
pub(crate) struct Api {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
    timeout: Duration,
}

impl Api {
    /// A client of `server` (`http://` or `https://`), sending `token` if given.
    pub(crate) fn new(server: &str, token: Option<&str>, timeout: Duration) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("finwise-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Error::Usage(format!("cannot start an HTTP client: {error}")))?;
        Ok(Api {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
            timeout,
        })
    }

    /// `POST /register`.
    pub(crate) async fn register(&self, name: &str, email: &str, password: &str) -> Result<User> {
        let body = json!({"name": name, "email": email, "password": password});
        self.send(self.http.post(self.url("/register")).json(&body), false)
            .await
    }

    /// `POST /login`.
    pub(crate) async fn login(&self, user: &str, password: &str) -> Result<LoggedIn> {
        let body = json!({"username_or_email": user, "password": password});
        self.send(self.http.post(self.url("/login")).json(&body), false)
            .await
    }

    /// `GET /tenants?user_id=U`.
    pub(crate) async fn tenants(&self, user_id: &str) -> Result<Vec<Tenant>> {
        let request = self
            .http
            .get(self.url("/tenants"))
            .query(&[("user_id", user_id)]);
        self.send(request, true).await
    }

    /// `POST /tenants`.
    pub(crate) async fn create_tenant(&self, name: &str, user_id: &str) -> Result<Tenant> {
        let body = json!({"name": name, "user_id": user_id});
        self.send(self.http.post(self.url("/tenants")).json(&body), true)
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// Sends `request` (with the token when `authenticated`) and reads a JSON answer.
    async fn send<T: DeserializeOwned>(
        &self,
        mut request: RequestBuilder,
        authenticated: bool,
    ) -> Result<T> {
        if authenticated {
            let token = self.token.as_deref().ok_or(Error::NotLoggedIn)?;
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| self.unreachable(&error))?;
        if !status.is_success() {
            let detail = detail(&text);
            return Err(if authenticated && status == StatusCode::UNAUTHORIZED {
                Error::LoginRefused(detail)
            } else {
                Error::Server {
                    status: status.as_u16(),
                    detail,
                }
            });
        }
        serde_json::from_str(&text).map_err(|error| Error::Server {
            status: status.as_u16(),
            detail: format!("unexpected answer ({error})"),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> Error {
        let reason = if error.is_timeout() {
            format!("no answer within {:?}", self.timeout)
        } else {
            root_cause(error)
        };
        Error::Unreachable {
            server: self.server.clone(),
            reason,
        }
    }
}

/// The server's `{"detail": …}`, or the body as it is.
fn detail(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(json) => match json.get("detail") {
            Some(Value::String(detail)) => detail.clone(),
            Some(other) => other.to_string(),
            None => json.to_string(),
        },
        Err(_) if body.trim().is_empty() => "no detail".to_owned(),
        Err(_) => body.trim().chars().take(200).collect(),
    }
}

/// The innermost error's message: "Connection refused (os error 111)" rather than
/// "error sending request for url …".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_read_from_json_or_taken_as_text() {
        assert_eq!(
            detail(r#"{"detail":"Email already registered"}"#),
            "Email already registered"
        );
        assert_eq!(detail("Bad Gateway"), "Bad Gateway");
        assert_eq!(detail(""), "no detail");
    }
}
