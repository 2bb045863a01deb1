//! Password hashing with bcrypt, off the async threads.
//!
//! New hashes are `$2b$`; existing `$2a$` (and `$2y$`) hashes, as older FinWise backends
//! wrote them, verify as well.
//!
//! bcrypt reads only the first 72 bytes of a password: two passwords that differ only after
//! byte 72 would hash alike. So a password is at most [`MAX_BYTES`] bytes (UTF-8): longer
//! ones are refused at registration (422) and never match at login, whatever the first 72
//! bytes are.

use crate::error::{Error, Result};

/// The longest password accepted, in bytes of UTF-8: what bcrypt reads.
pub const MAX_BYTES: usize = 72;

/// The answer to a longer password.
pub(crate) const TOO_LONG: &str =
    "password must be at most 72 bytes (UTF-8); bcrypt ignores anything after that";

/// The bcrypt hash of `password` at `cost`. A password over [`MAX_BYTES`] is an error.
pub async fn hash(password: &str, cost: u32) -> Result<String> {
    if password.len() > MAX_BYTES {
        return Err(Error::Password(TOO_LONG.to_owned()));
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|error| Error::Password(error.to_string()))?
        .map_err(|error| Error::Password(error.to_string()))
}

/// Whether `password` matches `hash`. A malformed hash matches nothing, and neither does a
/// password over [`MAX_BYTES`] (bcrypt would compare only its first 72 bytes).
pub async fn verify(password: &str, hash: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let (password, hash) = (password.to_owned(), hash.to_owned());
    let checked = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await;
    match checked {
        Ok(Ok(matches)) => matches,
        Ok(Err(error)) => {
            tracing::warn!(%error, "a stored password hash is not a valid bcrypt hash");
            false
        }
        Err(error) => {
            tracing::error!(%error, "password verification panicked");
            false
        }
    }
}

/// Spends about as long as [`verify`] does, for a login name that does not exist, so the
/// answer's timing does not tell which names are registered.
pub(crate) async fn verify_nothing(password: &str, cost: u32) {
    // A fixed, valid hash of a random string at the configured cost.
    let decoy = format!("$2b${cost:02}$C6UzMDM.H6dfI/f/IKxGhu0QzTfrmEybTqU0SsJUdfL0Ea5G8NxJW");
    let _ = verify(password, &decoy).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn new_hashes_are_2b_and_verify() {
        let hashed = hash("geheim", 4).await.unwrap();
        assert!(hashed.starts_with("$2b$04$"), "{hashed}");
        assert!(verify("geheim", &hashed).await);
        assert!(!verify("Geheim", &hashed).await);
    }

    #[tokio::test]
    async fn existing_2a_and_2b_hashes_verify() {
        // OpenBSD's published bcrypt test vector, in both prefixes.
        let vector_2a = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        let vector_2b = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        for stored in [vector_2a, vector_2b] {
            assert!(verify("U*U", stored).await, "{stored}");
            assert!(!verify("U*V", stored).await, "{stored}");
        }
        // And a `$2a$` hash made the way older backends (passlib, bcryptjs) wrote them.
        let parts = bcrypt::hash_with_result("passw0rd", 4).unwrap();
        let legacy = parts.format_for_version(bcrypt::Version::TwoA);
        assert!(legacy.starts_with("$2a$04$"));
        assert!(verify("passw0rd", &legacy).await);
    }

    #[tokio::test]
    async fn passwords_over_72_bytes_are_neither_hashed_nor_matched() {
        let base = "x".repeat(MAX_BYTES);
        let hashed = hash(&base, 4).await.unwrap();
        assert!(verify(&base, &hashed).await);
        // bcrypt alone would let both of these in: it reads 72 bytes.
        assert!(!verify(&format!("{base}a"), &hashed).await);
        assert!(!verify(&format!("{base}b"), &hashed).await);
        assert!(hash(&format!("{base}a"), 4).await.is_err());
        // Bytes, not characters: 36 two-byte characters fit, 37 do not.
        assert!(hash(&"ä".repeat(36), 4).await.is_ok());
        assert!(hash(&"ä".repeat(37), 4).await.is_err());
    }

    #[tokio::test]
    async fn a_malformed_hash_matches_nothing() {
        assert!(!verify("anything", "not a hash").await);
        assert!(!verify("", "").await);
    }
}
