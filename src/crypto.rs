//! Secrets at rest. Provider credentials are stored as `v2:{base64(nonce ‖ ciphertext)}`
//! (AES-256-GCM, a fresh random nonce per value), after ManageIQ's `v2_key` scheme. The
//! key is 32 random bytes created on first start in `server.key_file` (default
//! `<data_dir>/v2_key`, mode 0600). Every node of a region must use the same key file
//! (copy it, as with ManageIQ's v2_key); a node with another key reports credentials it
//! cannot decrypt instead of using garbage. Decrypted values are [`Secret`]s, which
//! never print.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

const PREFIX: &str = "v2:{";
const NONCE_LEN: usize = 12;

/// Why a secret could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("encryption key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("stored credential is not in the v2 format")]
    Format,
    #[error(
        "stored credential cannot be decrypted with this node's key ({path}); every node of a region needs the same key file"
    )]
    WrongKey { path: PathBuf },
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// A decrypted secret. `Debug` shows `****`; there is no `Display`, so it cannot end
/// up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that sends it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

/// Encrypts and decrypts with the region's key.
#[derive(Clone)]
pub struct KeyRing {
    cipher: Aes256Gcm,
    path: PathBuf,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("path", &self.path).finish()
    }
}

impl KeyRing {
    /// Loads the key at `path`, creating it (0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let key_error = |reason: String| CryptoError::Key {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = match std::fs::read_to_string(path) {
            Ok(text) => B64
                .decode(text.trim())
                .map_err(|e| key_error(format!("not base64: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| CryptoError::Random(e.to_string()))?;
                write_private(path, &format!("{}\n", B64.encode(key)))
                    .map_err(|e| key_error(e.to_string()))?;
                tracing::info!(path = %path.display(), "created the encryption key for credentials");
                key.to_vec()
            }
            Err(e) => return Err(key_error(e.to_string())),
        };
        let cipher = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| key_error(format!("must be 32 bytes, found {}", bytes.len())))?;
        Ok(Self {
            cipher,
            path: path.to_path_buf(),
        })
    }

    /// `v2:{…}` of `plain`.
    pub fn encrypt(&self, plain: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| CryptoError::Format)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}}}", B64.encode(blob)))
    }

    /// The plain text of a `v2:{…}` value.
    pub fn decrypt(&self, stored: &str) -> Result<Secret, CryptoError> {
        let inner = stored
            .strip_prefix(PREFIX)
            .and_then(|s| s.strip_suffix('}'))
            .ok_or(CryptoError::Format)?;
        let blob = B64.decode(inner).map_err(|_| CryptoError::Format)?;
        if blob.len() <= NONCE_LEN {
            return Err(CryptoError::Format);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Format)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| CryptoError::WrongKey {
                path: self.path.clone(),
            })?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| CryptoError::Format)
    }
}

/// Whether a stored value looks encrypted.
pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(PREFIX) && stored.ends_with('}')
}

pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_never_repeat_their_ciphertext() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KeyRing::load_or_create(&dir.path().join("v2_key")).expect("key");
        let a = ring.encrypt("s3cret-token").expect("encrypt");
        let b = ring.encrypt("s3cret-token").expect("encrypt");
        assert!(is_encrypted(&a) && a != b && !a.contains("s3cret"));
        assert_eq!(ring.decrypt(&a).expect("decrypt").expose(), "s3cret-token");
        assert_eq!(format!("{:?}", ring.decrypt(&a).expect("decrypt")), "****");
        // The same file loads the same key.
        let again = KeyRing::load_or_create(&dir.path().join("v2_key")).expect("key");
        assert_eq!(again.decrypt(&b).expect("decrypt").expose(), "s3cret-token");
    }

    #[test]
    fn another_key_or_a_mangled_value_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = KeyRing::load_or_create(&dir.path().join("k1")).expect("key");
        let two = KeyRing::load_or_create(&dir.path().join("k2")).expect("key");
        let stored = one.encrypt("token").expect("encrypt");
        assert!(matches!(
            two.decrypt(&stored),
            Err(CryptoError::WrongKey { .. })
        ));
        assert!(matches!(one.decrypt("plain"), Err(CryptoError::Format)));
        assert!(matches!(one.decrypt("v2:{!!}"), Err(CryptoError::Format)));
    }

    #[test]
    fn the_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v2_key");
        KeyRing::load_or_create(&path).expect("key");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
