//! A throw-away database for one bench run.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::settings::DatabaseUrl;

/// A database created for the bench, and a temporary directory for whatever else the
/// bench needs on disk; dropped (PostgreSQL) or deleted (SQLite) on drop — a bench
/// never leaves files behind, in the current directory or elsewhere.
pub struct BenchDatabase {
    /// URL the nodes use.
    pub url: DatabaseUrl,
    admin_url: Option<String>,
    name: Option<String>,
    dir: tempfile_dir::TempDir,
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
        let dir =
            std::env::temp_dir().join(format!("steward-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let dir = tempfile_dir::TempDir(dir);
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
                    dir,
                })
            }
            Some(other) if other.contains("://") && !other.starts_with("sqlite://") => {
                anyhow::bail!("--database must be a postgres:// URL or omitted for SQLite")
            }
            _ => Ok(Self {
                url: DatabaseUrl::Sqlite(dir.0.join("bench.sqlite3")),
                admin_url: None,
                name: None,
                dir,
            }),
        }
    }

    /// The bench's temporary directory (removed with it).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir.0
    }

    /// The URL as a node's settings take it (with its password: for child processes).
    pub fn url_text(&self) -> String {
        match &self.url {
            DatabaseUrl::Postgres(url) => url.clone(),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
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
