//! Passwords and tokens: argon2id hashes for passwords (slow on purpose), SHA-256 for
//! API tokens (random 256-bit values, so a fast hash is enough and a lookup is one
//! indexed read). Clear values live in `secrecy` types and are never logged.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Longest password accepted (bytes); argon2 takes any length, but input is bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password a user may set.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a password was refused.
pub fn check_password(password: &SecretString) -> Result<(), String> {
    let text = password.expose_secret();
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "a password may have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("a password may not contain control characters".into());
    }
    Ok(())
}

/// The argon2id PHC string of `password` (with its own random salt).
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("could not hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, verified against when the user does not exist
/// so that an unknown user takes as long to refuse as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        random_text(18)
            .and_then(|pw| hash_password(&SecretString::from(pw)))
            .unwrap_or_default()
    })
}

/// `bytes` random bytes as URL-safe base64 (no padding).
pub fn random_text(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| format!("the operating system's random generator failed: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A new API token: 256 random bits.
pub fn new_token() -> Result<SecretString, String> {
    random_text(32).map(SecretString::from)
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let pw = SecretString::from("correct horse".to_string());
        let hash = hash_password(&pw).expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&pw, &hash));
        assert!(!verify_password(
            &SecretString::from("wrong horse".to_string()),
            &hash
        ));
        assert!(!verify_password(&pw, "not a hash"));
        assert!(!verify_password(&pw, decoy_hash()));
    }

    #[test]
    fn password_rules() {
        assert!(check_password(&SecretString::from("short".to_string())).is_err());
        assert!(check_password(&SecretString::from("a\u{0}bcdefghi".to_string())).is_err());
        assert!(check_password(&SecretString::from("x".repeat(2000))).is_err());
        assert!(check_password(&SecretString::from("long enough".to_string())).is_ok());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
        let h = token_hash(a.expose_secret());
        assert_eq!(h.len(), 64);
        assert_ne!(h, token_hash(b.expose_secret()));
    }
}
