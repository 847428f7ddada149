//! The node's data directory: an exclusive lock (one node per directory), and the
//! server guid persisted there so that a restart is the same server.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::NodeError;

/// An open, locked data directory. The lock is held until this value is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    guid: String,
    _lock: File,
}

const LOCK_FILE: &str = "steward.lock";
const GUID_FILE: &str = "guid";

impl DataDir {
    /// Creates the directory if needed, takes its lock and reads (or creates) the guid.
    pub fn open(path: &Path) -> Result<Self, NodeError> {
        let dir_error = |e: std::io::Error| NodeError::DataDir {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if path.exists() && !path.is_dir() {
            return Err(NodeError::DataDir {
                path: path.to_path_buf(),
                reason: "exists and is not a directory".into(),
            });
        }
        std::fs::create_dir_all(path).map_err(dir_error)?;
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(LOCK_FILE))
            .map_err(dir_error)?;
        if let Err(e) = lock.try_lock() {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            return Err(match e {
                std::fs::TryLockError::WouldBlock => NodeError::AlreadyRunning {
                    path: path.to_path_buf(),
                    pid: holder.trim().to_string(),
                },
                std::fs::TryLockError::Error(e) => dir_error(e),
            });
        }
        lock.set_len(0).map_err(dir_error)?;
        lock.seek(SeekFrom::Start(0)).map_err(dir_error)?;
        write!(lock, "{}", std::process::id()).map_err(dir_error)?;
        let guid = read_or_create_guid(&path.join(GUID_FILE))?;
        Ok(Self {
            path: path.to_path_buf(),
            guid,
            _lock: lock,
        })
    }

    /// This server's guid.
    pub fn guid(&self) -> &str {
        &self.guid
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_or_create_guid(file: &Path) -> Result<String, NodeError> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = text.trim();
            uuid::Uuid::parse_str(text)
                .map(|u| u.to_string())
                .map_err(|_| NodeError::DataDir {
                    path: file.to_path_buf(),
                    reason: format!(
                        "`{text}` is not a guid; remove the file to get a new server identity"
                    ),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let guid = uuid::Uuid::new_v4().to_string();
            std::fs::write(file, format!("{guid}\n")).map_err(|e| NodeError::DataDir {
                path: file.to_path_buf(),
                reason: e.to_string(),
            })?;
            Ok(guid)
        }
        Err(e) => Err(NodeError::DataDir {
            path: file.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_survives_reopening_and_a_second_open_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let first = DataDir::open(tmp.path()).expect("first open");
        let guid = first.guid().to_string();
        match DataDir::open(tmp.path()) {
            Err(NodeError::AlreadyRunning { pid, .. }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(first);
        let again = DataDir::open(tmp.path()).expect("reopen after release");
        assert_eq!(again.guid(), guid);
    }

    #[test]
    fn a_corrupt_guid_file_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join(GUID_FILE), "not-a-guid").expect("write");
        let err = DataDir::open(tmp.path())
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("guid"), "{err}");
    }
}
