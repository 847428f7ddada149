//! Secrets at rest. Provider credentials are stored as `v3:{<key id>:<base64(nonce ‖
//! ciphertext)>}`: AES-256-GCM under one of the region's keys, a fresh random nonce per
//! value, and the row and column they belong to as associated data — a value copied
//! into another row or column does not decrypt. Values written before key ids existed
//! (`v2:{…}`, ManageIQ's scheme, no associated data) are still read and are re-sealed
//! as `v3` by the next node start or `steward keys rotate`.
//!
//! A key is 32 random bytes (base64). A [`KeyRing`] holds one or more: from the
//! environment variable [`KEY_ENV`] (comma-separated) when set, otherwise from
//! `server.key_file` (default `<data_dir>/v2_key`, mode 0600, one key per line), which a
//! node creates on its first start — and only a node: the CLI refuses to run without the
//! region's key rather than encrypt with a new one. Which key seals new values is the
//! region's choice (`region::key`), not the file's order, so a key can be copied to every
//! node before it becomes current. A value sealed under a key the ring lacks makes the
//! ring re-read its file once (a rotation done by another process). Key bytes are
//! zeroized when dropped; decrypted values are [`Secret`]s, which never print and are
//! zeroized too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const V2: &str = "v2:{";
const V3: &str = "v3:{";
/// The environment variable that, when set, holds the keys (base64 of 32 bytes each,
/// comma-separated).
pub const KEY_ENV: &str = "STEWARD_CREDENTIAL_KEY";
const NONCE_LEN: usize = 12;
/// Keys a ring may hold (a key file is read whole; this bounds it).
const MAX_KEYS: usize = 64;

/// Why a secret could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("encryption key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("stored credential is not in the v2 or v3 format")]
    Format,
    #[error(
        "stored credential cannot be decrypted with the keys of {path}; every node of a region needs the region's key file"
    )]
    WrongKey { path: PathBuf },
    #[error(
        "stored credential is sealed with key {key_id}, which {path} does not hold; copy the region's key file to this node (steward keys list shows the region's keys)"
    )]
    UnknownKey { key_id: String, path: PathBuf },
    #[error(
        "stored credential does not belong to {binding} (it was altered or copied from another row)"
    )]
    Tampered { binding: String },
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// The row and column a sealed value belongs to (its associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: i64,
}

impl<'a> Binding<'a> {
    pub fn new(table: &'a str, column: &'a str, row: i64) -> Self {
        Self { table, column, row }
    }

    fn aad(&self) -> String {
        format!("steward:{}.{}:{}", self.table, self.column, self.row)
    }
}

impl std::fmt::Display for Binding<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} of row {}", self.table, self.column, self.row)
    }
}

/// A decrypted secret: `Debug` shows `****`, there is no `Display`, and the memory is
/// zeroized when dropped.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// The value, for the one place that sends it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// As `secrecy`'s type, for code that keeps it.
    pub fn into_secret_string(self) -> SecretString {
        self.0
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

/// One key: its public id, its check value and the cipher (zeroized on drop).
struct Key {
    id: String,
    check: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let cipher = Aes256Gcm::new_from_slice(bytes).ok()?;
        let digest = |label: &[u8]| {
            let mut h = Sha256::new();
            h.update(label);
            h.update(bytes);
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        Some(Self {
            id: digest(b"steward credential key id\0")[..16].to_string(),
            check: digest(b"steward credential key check\0"),
            cipher,
        })
    }
}

/// Where a ring's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    File(PathBuf),
    Env,
}

struct Keys {
    keys: Vec<Key>,
    /// Index of the key that seals new values.
    sealing: usize,
}

/// The region's keys as this process holds them. Clones share the keys, so a reload or
/// a change of sealing key is seen by every holder.
#[derive(Clone)]
pub struct KeyRing {
    keys: Arc<RwLock<Keys>>,
    source: Source,
    shown: PathBuf,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("source", &self.shown)
            .field("ids", &self.ids())
            .finish()
    }
}

/// A key's public id and check value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub check: String,
}

impl KeyRing {
    /// The keys of [`KEY_ENV`] if set, else the file at `path`, creating it (0600, one
    /// new key) if it does not exist — what a node does on its first start.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        Self::load(path, true)
    }

    /// The keys of [`KEY_ENV`] if set, else the file at `path`, which must exist: what
    /// the CLI does (it never creates a key, which would encrypt beside the region's).
    pub fn load_existing(path: &Path) -> Result<Self, CryptoError> {
        Self::load(path, false)
    }

    fn load(path: &Path, create: bool) -> Result<Self, CryptoError> {
        let env = std::env::var(KEY_ENV).ok().filter(|v| !v.trim().is_empty());
        let (source, shown) = match env {
            Some(_) => (Source::Env, PathBuf::from(format!("${KEY_ENV}"))),
            None => (Source::File(path.to_path_buf()), path.to_path_buf()),
        };
        let key_error = |reason: String| CryptoError::Key {
            path: shown.clone(),
            reason,
        };
        if source == Source::File(path.to_path_buf()) && create && !path.exists() {
            let key = generate()?;
            write_private(path, &format!("{}\n", B64.encode(key.as_slice())))
                .map_err(|e| key_error(e.to_string()))?;
            tracing::info!(path = %path.display(), "created the encryption key for credentials");
        }
        let keys = read_keys(&source, &shown)?;
        Ok(Self {
            keys: Arc::new(RwLock::new(Keys { keys, sealing: 0 })),
            source,
            shown,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        // A poisoned lock only means a panic elsewhere while holding it; the keys
        // themselves are never left half-written (replaced whole).
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The public id (16 hex digits) of the key that seals new values; it reveals
    /// nothing of the key.
    pub fn id(&self) -> String {
        let k = self.read();
        k.keys[k.sealing].id.clone()
    }

    /// A value only the sealing key produces (SHA-256 of a label and the key), which
    /// the region records to recognise its key.
    pub fn check_value(&self) -> String {
        let k = self.read();
        k.keys[k.sealing].check.clone()
    }

    /// Every key's id and check value, in the file's order.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.read()
            .keys
            .iter()
            .map(|k| KeyInfo {
                id: k.id.clone(),
                check: k.check.clone(),
            })
            .collect()
    }

    /// Every key's id.
    pub fn ids(&self) -> Vec<String> {
        self.read().keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Seals with the key whose check value is `check`; false if the ring lacks it.
    pub fn use_for_sealing(&self, check: &str) -> bool {
        let mut k = self.write();
        match k.keys.iter().position(|key| key.check == check) {
            Some(i) => {
                k.sealing = i;
                true
            }
            None => false,
        }
    }

    /// Where the keys came from (their file, or `$STEWARD_CREDENTIAL_KEY`).
    pub fn source(&self) -> &Path {
        &self.shown
    }

    /// Whether the keys come from a file this process may add a key to.
    pub fn key_file(&self) -> Option<&Path> {
        match &self.source {
            Source::File(path) => Some(path),
            Source::Env => None,
        }
    }

    /// Re-reads the keys from their source, keeping the sealing key if it is still
    /// there. Returns whether the set of keys changed.
    pub fn reload(&self) -> Result<bool, CryptoError> {
        let fresh = read_keys(&self.source, &self.shown)?;
        let mut k = self.write();
        let sealing_check = k.keys[k.sealing].check.clone();
        let changed = fresh.len() != k.keys.len()
            || fresh.iter().zip(&k.keys).any(|(a, b)| a.check != b.check);
        if changed {
            let sealing = fresh
                .iter()
                .position(|key| key.check == sealing_check)
                .unwrap_or(0);
            *k = Keys {
                keys: fresh,
                sealing,
            };
        }
        Ok(changed)
    }

    /// Generates a new key and appends it to the key file (written whole to a temporary
    /// file, then renamed over it); returns its id. The ring then holds it too.
    pub fn add_new_key(&self) -> Result<String, CryptoError> {
        let Source::File(path) = &self.source else {
            return Err(CryptoError::Key {
                path: self.shown.clone(),
                reason: format!(
                    "keys from the environment cannot be added to: put the new key (steward keys generate) in {KEY_ENV}"
                ),
            });
        };
        let key_error = |reason: String| CryptoError::Key {
            path: path.clone(),
            reason,
        };
        let current =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?);
        let key = generate()?;
        let mut text = Zeroizing::new(String::with_capacity(current.len() + 48));
        for line in current.lines().filter(|l| !l.trim().is_empty()) {
            text.push_str(line.trim());
            text.push('\n');
        }
        text.push_str(&B64.encode(key.as_slice()));
        text.push('\n');
        let temp = path.with_extension(format!("new-{}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        write_private(&temp, &text).map_err(|e| key_error(e.to_string()))?;
        std::fs::rename(&temp, path).map_err(|e| key_error(e.to_string()))?;
        let id = Key::from_bytes(key.as_slice())
            .map(|k| k.id)
            .ok_or_else(|| key_error("generated key rejected".into()))?;
        self.reload()?;
        Ok(id)
    }

    /// `v3:{…}` of `plain`, sealed with the sealing key and bound to `binding`.
    pub fn seal(&self, plain: &str, binding: Binding<'_>) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let aad = binding.aad();
        let k = self.read();
        let key = &k.keys[k.sealing];
        let sealed = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Format)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{V3}{}:{}}}", key.id, B64.encode(blob)))
    }

    /// The plain text of a stored value bound to `binding` (`v3`), or of a legacy `v2`
    /// value (no binding; any key of the ring).
    pub fn open(&self, stored: &str, binding: Binding<'_>) -> Result<Secret, CryptoError> {
        match parse(stored)? {
            Stored::V2(blob) => self.open_legacy(&blob),
            Stored::V3 { key_id, blob } => {
                if !self.ids().iter().any(|id| id == key_id) {
                    // Sealed by a rotation this process has not seen: re-read the file.
                    self.reload()?;
                }
                let k = self.read();
                let key = k.keys.iter().find(|key| key.id == key_id).ok_or_else(|| {
                    CryptoError::UnknownKey {
                        key_id: key_id.to_string(),
                        path: self.shown.clone(),
                    }
                })?;
                let (nonce, sealed) = split(&blob)?;
                let aad = binding.aad();
                let plain = key
                    .cipher
                    .decrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: sealed,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| CryptoError::Tampered {
                        binding: binding.to_string(),
                    })?;
                utf8(plain)
            }
        }
    }

    fn open_legacy(&self, blob: &[u8]) -> Result<Secret, CryptoError> {
        let (nonce, sealed) = split(blob)?;
        let k = self.read();
        for key in &k.keys {
            if let Ok(plain) = key.cipher.decrypt(&Nonce::from(nonce), sealed) {
                return utf8(plain);
            }
        }
        Err(CryptoError::WrongKey {
            path: self.shown.clone(),
        })
    }

    /// Whether `stored` is sealed with the sealing key (false for legacy values).
    pub fn is_current(&self, stored: &str) -> bool {
        matches!(key_id_of(stored), Some(id) if id == self.id())
    }
}

enum Stored<'a> {
    V2(Vec<u8>),
    V3 { key_id: &'a str, blob: Vec<u8> },
}

fn parse(stored: &str) -> Result<Stored<'_>, CryptoError> {
    if let Some(inner) = stored.strip_prefix(V3).and_then(|s| s.strip_suffix('}')) {
        let (key_id, b64) = inner.split_once(':').ok_or(CryptoError::Format)?;
        let blob = B64.decode(b64).map_err(|_| CryptoError::Format)?;
        return Ok(Stored::V3 { key_id, blob });
    }
    let inner = stored
        .strip_prefix(V2)
        .and_then(|s| s.strip_suffix('}'))
        .ok_or(CryptoError::Format)?;
    Ok(Stored::V2(
        B64.decode(inner).map_err(|_| CryptoError::Format)?,
    ))
}

fn split(blob: &[u8]) -> Result<([u8; NONCE_LEN], &[u8]), CryptoError> {
    if blob.len() <= NONCE_LEN {
        return Err(CryptoError::Format);
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Format)?;
    Ok((nonce, sealed))
}

fn utf8(plain: Vec<u8>) -> Result<Secret, CryptoError> {
    let plain = Zeroizing::new(plain);
    std::str::from_utf8(&plain)
        .map(|s| Secret::new(s.to_string()))
        .map_err(|_| CryptoError::Format)
}

/// The id of the key a stored value is sealed with (None: legacy `v2`, or not sealed).
pub fn key_id_of(stored: &str) -> Option<&str> {
    match parse(stored) {
        Ok(Stored::V3 { key_id, .. }) => Some(key_id),
        _ => None,
    }
}

/// Whether a stored value looks encrypted.
pub fn is_encrypted(stored: &str) -> bool {
    (stored.starts_with(V2) || stored.starts_with(V3)) && stored.ends_with('}')
}

/// 32 random bytes.
fn generate() -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *key).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(key)
}

/// A new key, base64, for `STEWARD_CREDENTIAL_KEY` or a key file.
pub fn generate_key_text() -> Result<Zeroizing<String>, CryptoError> {
    Ok(Zeroizing::new(B64.encode(generate()?.as_slice())))
}

fn read_keys(source: &Source, shown: &Path) -> Result<Vec<Key>, CryptoError> {
    let key_error = |reason: String| CryptoError::Key {
        path: shown.to_path_buf(),
        reason,
    };
    let text = Zeroizing::new(match source {
        Source::Env => std::env::var(KEY_ENV).map_err(|e| key_error(e.to_string()))?,
        Source::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(key_error(format!(
                    "does not exist; the command line never creates a key: give it the \
                     region's (copy a node's server.key_file, or set {KEY_ENV})"
                )));
            }
            Err(e) => return Err(key_error(e.to_string())),
        },
    });
    let separator = |c: char| c == ',' || c.is_whitespace();
    let mut keys: Vec<Key> = Vec::new();
    for (n, word) in text.split(separator).filter(|w| !w.is_empty()).enumerate() {
        if n >= MAX_KEYS {
            return Err(key_error(format!("holds more than {MAX_KEYS} keys")));
        }
        let bytes = Zeroizing::new(
            B64.decode(word)
                .map_err(|e| key_error(format!("key {}: not base64: {e}", n + 1)))?,
        );
        let key = Key::from_bytes(&bytes).ok_or_else(|| {
            key_error(format!(
                "key {}: must be 32 bytes, found {}",
                n + 1,
                bytes.len()
            ))
        })?;
        if !keys.iter().any(|k| k.check == key.check) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(key_error("holds no key".into()));
    }
    Ok(keys)
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
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Binding<'static> = Binding {
        table: "providers",
        column: "credentials",
        row: 7,
    };

    #[test]
    fn secrets_round_trip_and_never_repeat_their_ciphertext() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KeyRing::load_or_create(&dir.path().join("v2_key")).expect("key");
        let a = ring.seal("s3cret-token", ROW).expect("seal");
        let b = ring.seal("s3cret-token", ROW).expect("seal");
        assert!(is_encrypted(&a) && a != b && !a.contains("s3cret"));
        assert_eq!(key_id_of(&a), Some(ring.id().as_str()));
        assert_eq!(ring.open(&a, ROW).expect("open").expose(), "s3cret-token");
        assert_eq!(format!("{:?}", ring.open(&a, ROW).expect("open")), "****");
        // The same file loads the same key.
        let again = KeyRing::load_or_create(&dir.path().join("v2_key")).expect("key");
        assert_eq!(again.open(&b, ROW).expect("open").expose(), "s3cret-token");
    }

    #[test]
    fn a_value_moved_to_another_row_or_column_does_not_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KeyRing::load_or_create(&dir.path().join("k")).expect("key");
        let stored = ring.seal("token", ROW).expect("seal");
        for other in [
            Binding::new("providers", "credentials", 8),
            Binding::new("providers", "prometheus_credentials", 7),
        ] {
            assert!(matches!(
                ring.open(&stored, other),
                Err(CryptoError::Tampered { .. })
            ));
        }
    }

    #[test]
    fn another_key_or_a_mangled_value_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = KeyRing::load_or_create(&dir.path().join("k1")).expect("key");
        let two = KeyRing::load_or_create(&dir.path().join("k2")).expect("key");
        let stored = one.seal("token", ROW).expect("seal");
        assert!(matches!(
            two.open(&stored, ROW),
            Err(CryptoError::UnknownKey { .. })
        ));
        assert!(matches!(one.open("plain", ROW), Err(CryptoError::Format)));
        assert!(matches!(one.open("v2:{!!}", ROW), Err(CryptoError::Format)));
        assert!(matches!(one.open("v3:{ab}", ROW), Err(CryptoError::Format)));
    }

    #[test]
    fn legacy_v2_values_open_with_any_key_of_the_ring() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = KeyRing::load_or_create(&dir.path().join("k")).expect("key");
        // A v2 value: nonce ‖ ciphertext, no associated data.
        let legacy = {
            let k = ring.read();
            let nonce = [3u8; NONCE_LEN];
            let sealed = k.keys[0]
                .cipher
                .encrypt(&Nonce::from(nonce), b"old".as_slice())
                .expect("encrypt");
            let mut blob = nonce.to_vec();
            blob.extend_from_slice(&sealed);
            format!("{V2}{}}}", B64.encode(blob))
        };
        ring.add_new_key().expect("add");
        assert!(ring.use_for_sealing(&ring.keys()[1].check));
        assert_eq!(ring.open(&legacy, ROW).expect("open").expose(), "old");
        assert!(!ring.is_current(&legacy));
    }

    #[test]
    fn a_ring_holds_several_keys_and_seals_with_the_chosen_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        let ring = KeyRing::load_or_create(&path).expect("key");
        let old = ring.seal("before", ROW).expect("seal");
        let first = ring.id();
        // Another process (steward keys add) appends a key to the file.
        let other = KeyRing::load_existing(&path).expect("key");
        let new_id = other.add_new_key().expect("add");
        assert_eq!(other.ids(), vec![first.clone(), new_id.clone()]);
        assert!(other.use_for_sealing(&other.keys()[1].check));
        let new = other.seal("after", ROW).expect("seal");
        assert_eq!(key_id_of(&new), Some(new_id.as_str()));
        // The first ring has not seen the new key: it re-reads its file once.
        assert_eq!(ring.open(&new, ROW).expect("open").expose(), "after");
        assert_eq!(ring.ids().len(), 2);
        assert_eq!(ring.id(), first, "a reload keeps the sealing key");
        assert_eq!(other.open(&old, ROW).expect("open").expose(), "before");
        assert!(other.is_current(&new) && !other.is_current(&old));
    }

    #[test]
    fn a_key_file_holds_several_keys_and_a_bad_one_is_named() {
        let source = Source::File(PathBuf::from("/nonexistent"));
        assert!(read_keys(&source, Path::new("/nonexistent")).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        let a = generate_key_text().expect("key");
        let b = generate_key_text().expect("key");
        std::fs::write(&path, format!("{}, {}\n\n", *a, *b)).expect("write");
        let keys = read_keys(&Source::File(path.clone()), &path).expect("keys");
        assert_eq!(keys.len(), 2);
        std::fs::write(&path, "bm90IGEga2V5\n").expect("write");
        let err = read_keys(&Source::File(path.clone()), &path)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("must be 32 bytes"), "{err}");
    }

    #[test]
    fn the_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v2_key");
        let ring = KeyRing::load_or_create(&path).expect("key");
        ring.add_new_key().expect("add");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
