//! Secrets at rest. Provider credentials are stored as `v2:{base64(nonce ‖ ciphertext)}`
//! (AES-256-GCM, a fresh random nonce per value), after ManageIQ's `v2_key` scheme. The
//! key is 32 random bytes: from the environment variable [`KEY_ENV`] (base64) when set,
//! otherwise from `server.key_file` (default `<data_dir>/v2_key`, mode 0600), which a
//! node creates on its first start — and only a node: the CLI refuses to run without
//! the region's key rather than encrypt with a new one. Every node of a region uses the
//! same key; the region records the key's id and check value (`region::key`), so a node
//! or CLI with another key stops with a clear error. Decrypted values are [`Secret`]s,
//! which never print.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

const PREFIX: &str = "v2:{";
/// The environment variable that, when set, holds the key (base64 of 32 bytes).
pub const KEY_ENV: &str = "STEWARD_CREDENTIAL_KEY";
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
    id: String,
    check: String,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("path", &self.path)
            .field("id", &self.id)
            .finish()
    }
}

impl KeyRing {
    /// The key of [`KEY_ENV`] if set, else the one at `path`, creating it (0600) if it
    /// does not exist — what a node does on its first start.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        Self::load(path, true)
    }

    /// The key of [`KEY_ENV`] if set, else the one at `path`, which must exist: what the
    /// CLI does (it never creates a key, which would encrypt beside the region's).
    pub fn load_existing(path: &Path) -> Result<Self, CryptoError> {
        Self::load(path, false)
    }

    fn load(path: &Path, create: bool) -> Result<Self, CryptoError> {
        let from_env = std::env::var(KEY_ENV).ok().filter(|v| !v.trim().is_empty());
        let path = match from_env {
            Some(_) => PathBuf::from(format!("${KEY_ENV}")),
            None => path.to_path_buf(),
        };
        let key_error = |reason: String| CryptoError::Key {
            path: path.clone(),
            reason,
        };
        let text = match from_env {
            Some(text) => Some(text),
            None => match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(key_error(format!(
                        "does not exist; the command line never creates a key: give it the \
                         region's (copy a node's server.key_file, or set {KEY_ENV})"
                    )));
                }
                Err(e) => return Err(key_error(e.to_string())),
            },
        };
        let bytes = match text {
            Some(text) => B64
                .decode(text.trim())
                .map_err(|e| key_error(format!("not base64: {e}")))?,
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| CryptoError::Random(e.to_string()))?;
                write_private(&path, &format!("{}\n", B64.encode(key)))
                    .map_err(|e| key_error(e.to_string()))?;
                tracing::info!(path = %path.display(), "created the encryption key for credentials");
                key.to_vec()
            }
        };
        let cipher = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| key_error(format!("must be 32 bytes, found {}", bytes.len())))?;
        let digest = |label: &[u8]| {
            let mut h = Sha256::new();
            h.update(label);
            h.update(&bytes);
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let id = digest(b"steward credential key id\0")[..16].to_string();
        let check = digest(b"steward credential key check\0");
        Ok(Self {
            cipher,
            path,
            id,
            check,
        })
    }

    /// A short public name of the key (16 hex digits), for the region's record and
    /// error messages; it reveals nothing of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A value only this key produces (SHA-256 of a label and the key), which the
    /// region records to recognise its key.
    pub fn check_value(&self) -> &str {
        &self.check
    }

    /// Where the key came from (its file, or `$STEWARD_CREDENTIAL_KEY`).
    pub fn source(&self) -> &Path {
        &self.path
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
