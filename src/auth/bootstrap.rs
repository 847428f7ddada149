//! A region's first administrator. No password is built in: on the first start the
//! node creates `admin` with a random password, writes it once to the log and to
//! `<data_dir>/admin-password` (mode 0600), and never again.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::directory::{FIRST_ADMIN, NewUser, create_user, ensure_defaults, has_users};
use super::secret::{hash_password, random_text};
use crate::db::{DbConnection, DbError};

/// The file the first administrator's password is written to.
pub fn password_file(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-password")
}

/// Creates the defaults and, if the region has no user, `admin` with a random
/// password. Returns where the password was written when it created the user.
pub fn bootstrap(conn: &mut DbConnection, data_dir: &Path) -> Result<Option<PathBuf>, DbError> {
    ensure_defaults(conn)?;
    if has_users(conn)? {
        return Ok(None);
    }
    let password = SecretString::from(random_text(18).map_err(DbError::Task)?);
    let hash = hash_password(&password).map_err(DbError::Task)?;
    match create_user(
        conn,
        &NewUser {
            userid: FIRST_ADMIN,
            name: "Administrator",
            email: "",
            groups: &["admin".to_string()],
            password_hash: &hash,
        },
    ) {
        Ok(_) => {}
        // Another node created it between our check and our insert.
        Err(DbError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let path = password_file(data_dir);
    let _ = std::fs::remove_file(&path);
    let written = crate::crypto::write_private(&path, &format!("{}\n", password.expose_secret()));
    match &written {
        Ok(()) => tracing::warn!(
            user = FIRST_ADMIN,
            password = password.expose_secret(),
            file = %path.display(),
            "created the region's first user; this is the only time its password is logged — change it with `steward user passwd admin`"
        ),
        Err(error) => tracing::warn!(
            user = FIRST_ADMIN,
            password = password.expose_secret(),
            file = %path.display(),
            %error,
            "created the region's first user but could not write its password file; this is the only time its password is shown"
        ),
    }
    Ok(written.ok().map(|()| path))
}
