//! The one error type of settings loading: always names a key (or a file) and the
//! source of the offending value, so `steward` can stop with a single clear line.

use thiserror::Error;

/// A settings problem that stops the command (exit code 2).
#[derive(Debug, Error)]
pub enum SettingsError {
    /// The node's settings file could not be read or is not valid YAML.
    #[error("settings file {file}: {reason}")]
    File { file: String, reason: String },
    /// A key that no setting of Steward knows.
    #[error("unknown settings key `{key}` (in {origin})")]
    UnknownKey { key: String, origin: String },
    /// A value of the wrong type or outside its range.
    #[error("settings key `{key}`: {reason} (in {origin})")]
    Invalid {
        key: String,
        reason: String,
        origin: String,
    },
}

impl SettingsError {
    /// The settings key this error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsError::File { .. } => None,
            SettingsError::UnknownKey { key, .. } | SettingsError::Invalid { key, .. } => Some(key),
        }
    }
}
