//! The profile directory: `profile.json` (server, user, token, current tenant, last
//! syncs), written with mode 0600, and one replica database per tenant, `<tenant>.db`.
//! The directory is created with mode 0700: it holds a session token.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::TenantId;

use super::error::{Error, Result};

/// The profile file's name in the directory.
const FILE: &str = "profile.json";

/// What the profile file holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// The server of the last login.
    #[serde(default)]
    pub(crate) server: Option<String>,
    /// The logged-in user.
    #[serde(default)]
    pub(crate) user: Option<User>,
    /// The session token of the last login.
    #[serde(default)]
    pub(crate) token: Option<String>,
    /// The current tenant's id.
    #[serde(default)]
    pub(crate) tenant: Option<String>,
    /// What is known of each tenant used, by id.
    #[serde(default)]
    pub(crate) tenants: BTreeMap<String, Tenant>,
}

/// The logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct User {
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) email: String,
}

/// What the profile knows of a tenant.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Tenant {
    /// Its name, when it was learned from the server.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// When a command last finished a sync of it.
    #[serde(default)]
    pub(crate) last_sync: Option<DateTime<Utc>>,
}

/// An open profile directory and its file's contents.
#[derive(Debug)]
pub(crate) struct Profile {
    dir: PathBuf,
    pub(crate) saved: Saved,
}

impl Profile {
    /// Opens `dir` (default: the per-user config directory), creating it with mode 0700.
    pub(crate) fn open(dir: Option<PathBuf>) -> Result<Profile> {
        let dir = match dir {
            Some(dir) => dir,
            None => default_dir()?,
        };
        create_private_dir(&dir)?;
        let path = dir.join(FILE);
        let saved = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| Error::Profile {
                path: path.clone(),
                detail: error.to_string(),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(Profile { dir, saved })
    }

    /// Writes the profile file: a new file of mode 0600 renamed over the old one, so a
    /// crash leaves the old file or the new one, never half of one.
    pub(crate) fn save(&self) -> Result<()> {
        let path = self.dir.join(FILE);
        let temporary = self.dir.join(format!("{FILE}.tmp"));
        let io = |source| Error::Io {
            path: temporary.clone(),
            source,
        };
        let mut json = serde_json::to_vec_pretty(&self.saved).map_err(|error| Error::Profile {
            path: path.clone(),
            detail: error.to_string(),
        })?;
        json.push(b'\n');
        match std::fs::remove_file(&temporary) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io(error)),
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&temporary, &path).map_err(|source| Error::Io { path, source })
    }

    /// The session token, or [`Error::NotLoggedIn`].
    pub(crate) fn token(&self) -> Result<&str> {
        self.saved.token.as_deref().ok_or(Error::NotLoggedIn)
    }

    /// The logged-in user, or [`Error::NotLoggedIn`].
    pub(crate) fn user(&self) -> Result<&User> {
        match (&self.saved.user, &self.saved.token) {
            (Some(user), Some(_)) => Ok(user),
            _ => Err(Error::NotLoggedIn),
        }
    }

    /// The current tenant, or [`Error::NotLoggedIn`] / [`Error::NoTenant`].
    pub(crate) fn tenant(&self) -> Result<TenantId> {
        self.token()?;
        let id = self.saved.tenant.as_deref().ok_or(Error::NoTenant)?;
        TenantId::new(id).map_err(|error| Error::Usage(error.to_string()))
    }

    /// A tenant's display name: its name when known, else its id.
    pub(crate) fn tenant_label(&self, id: &str) -> String {
        match self.saved.tenants.get(id).and_then(|t| t.name.as_deref()) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_owned(),
        }
    }

    /// Records that `tenant` was synced just now.
    pub(crate) fn record_sync(&mut self, tenant: &TenantId) -> Result<()> {
        self.saved
            .tenants
            .entry(tenant.as_str().to_owned())
            .or_default()
            .last_sync = Some(Utc::now());
        self.save()
    }

    /// The replica database of `tenant`.
    pub(crate) fn replica_path(&self, tenant: &TenantId) -> PathBuf {
        self.dir.join(format!("{tenant}.db"))
    }
}

/// `$XDG_CONFIG_HOME/finwise-cli`, else `$HOME/.config/finwise-cli` (on Windows
/// `%APPDATA%\finwise-cli`).
fn default_dir() -> Result<PathBuf> {
    let non_empty = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    let base = non_empty("XDG_CONFIG_HOME")
        .or_else(|| non_empty("HOME").map(|home| home.join(".config")))
        .or_else(|| non_empty("APPDATA"));
    base.map(|base| base.join("finwise-cli"))
        .ok_or_else(|| Error::Usage("cannot find a home directory: pass --profile DIR".to_owned()))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_reads_back_privately() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nested").join("profile");
        let mut profile = Profile::open(Some(dir.clone())).unwrap();
        assert!(matches!(profile.token(), Err(Error::NotLoggedIn)));
        profile.saved.token = Some("t".to_owned());
        assert!(matches!(profile.tenant(), Err(Error::NoTenant)));
        profile.saved.tenant = Some("household".to_owned());
        profile.save().unwrap();

        let again = Profile::open(Some(dir.clone())).unwrap();
        assert_eq!(again.tenant().unwrap().as_str(), "household");
        assert_eq!(
            again.replica_path(&again.tenant().unwrap()),
            dir.join("household.db")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join(FILE)), 0o600);
        }
    }

    #[test]
    fn a_damaged_profile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        let error = Profile::open(Some(dir.path().to_owned())).unwrap_err();
        assert!(error.to_string().contains("is damaged"), "{error}");
    }
}
