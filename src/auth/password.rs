//! Local passwords: argon2id hashes in PHC string form.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

use crate::error::Error;

/// Hashes `password` with argon2id and a fresh random salt.
///
/// # Errors
/// The hasher failed (no randomness available).
pub fn hash(password: &str) -> Result<String, Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(&format!("argon2: {e}")))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never
/// matches.
#[must_use]
pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash of a password nobody has, to verify against when the user does not
/// exist, so that a wrong username and a wrong password take the same time.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("tally-no-such-user").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let first = hash("correct horse").unwrap();
        let second = hash("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify("correct horse", &first));
        assert!(!verify("wrong horse", &first));
        assert!(!verify("correct horse", "not a hash"));
    }
}
