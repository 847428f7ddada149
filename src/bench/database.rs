//! A throw-away database for one bench run.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::settings::DatabaseUrl;

/// A database created for the bench; dropped (PostgreSQL) or deleted (SQLite) on drop.
pub struct BenchDatabase {
    /// URL the nodes use.
    pub url: DatabaseUrl,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile_dir::TempDir>,
}

mod tempfile_dir {
    /// A temporary directory removed on drop (std only: the bench ships in the binary).
    pub struct TempDir(pub std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl BenchDatabase {
    /// `server`: a `postgres://…` URL of a database on the server to create the bench
    /// database next to; `None` or a path: a fresh SQLite file in a temporary directory.
    pub fn create(server: Option<&str>) -> anyhow::Result<Self> {
        match server {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let mut admin = PgConnection::establish(url)
                    .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
                let name = format!("steward_bench_{}", uuid::Uuid::new_v4().simple());
                admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
                let (base, query) = match url.split_once('?') {
                    Some((b, q)) => (b, format!("?{q}")),
                    None => (url, String::new()),
                };
                let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
                Ok(Self {
                    url: DatabaseUrl::Postgres(format!("{base}/{name}{query}")),
                    admin_url: Some(url.to_string()),
                    name: Some(name),
                    _dir: None,
                })
            }
            Some(other) if other.contains("://") && !other.starts_with("sqlite://") => {
                anyhow::bail!("--database must be a postgres:// URL or omitted for SQLite")
            }
            _ => {
                let dir = std::env::temp_dir()
                    .join(format!("steward-bench-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)?;
                Ok(Self {
                    url: DatabaseUrl::Sqlite(dir.join("bench.sqlite3")),
                    admin_url: None,
                    name: None,
                    _dir: Some(tempfile_dir::TempDir(dir)),
                })
            }
        }
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name)
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
