//! The JWT secret: given, or generated once and kept in `<data_dir>/jwt-secret`.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

use crate::config::MIN_SECRET_LEN;
use crate::error::{Error, Result};

/// The file, under the data directory, that holds a generated secret.
pub const SECRET_FILE: &str = "jwt-secret";

/// `given` if set, else the secret stored in `data_dir`, generated (32 random bytes, hex
/// encoded, file mode 0600) on first use and reused on every later start. Refuses a secret
/// shorter than [`MIN_SECRET_LEN`] bytes.
pub(crate) fn load_or_generate(given: Option<&[u8]>, data_dir: &Path) -> Result<Vec<u8>> {
    let secret = match given {
        Some(secret) => secret.to_vec(),
        None => {
            let path = data_dir.join(SECRET_FILE);
            match std::fs::read(&path) {
                Ok(bytes) => trim(bytes),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => generate(&path)?,
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
    };
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::Config(format!(
            "the JWT secret is {} bytes; use at least {MIN_SECRET_LEN} random bytes",
            secret.len()
        )));
    }
    Ok(secret)
}

fn generate(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(secret.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(secret.into_bytes())
}

/// The file's bytes without surrounding whitespace, so a hand-edited file with a trailing
/// newline means the same secret.
fn trim(bytes: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&bytes);
    if text.trim().len() == text.len() {
        bytes
    } else {
        text.trim().as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(None, dir.path()).unwrap();
        assert_eq!(first.len(), 64, "32 bytes, hex encoded");
        let second = load_or_generate(None, dir.path()).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_given_secret_wins_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let given = b"0123456789abcdef0123456789abcdef";
        assert_eq!(load_or_generate(Some(given), dir.path()).unwrap(), given);
        assert!(!dir.path().join(SECRET_FILE).exists());
        let error = load_or_generate(Some(b"short"), dir.path()).unwrap_err();
        assert!(error.to_string().contains("at least 32"), "{error}");
    }

    #[test]
    fn a_stored_secret_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "x".repeat(40);
        std::fs::write(dir.path().join(SECRET_FILE), format!("{secret}\n")).unwrap();
        assert_eq!(
            load_or_generate(None, dir.path()).unwrap(),
            secret.as_bytes()
        );
    }
}
