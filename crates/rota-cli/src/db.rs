//! Opening the database a command works on, with errors that name it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rota_store::Store;

/// `--database-url` of the commands that work on an existing database.
#[derive(clap::Args)]
pub struct DatabaseArgs {
    /// sqlite://PATH (it must exist: `rota seed` creates one) or postgres://…
    #[arg(long, env = "ROTA_DATABASE_URL", default_value = crate::DEFAULT_DATABASE)]
    pub database_url: String,
}

impl DatabaseArgs {
    /// Opens the database, which must exist.
    pub async fn open(&self) -> Result<Store> {
        open(&self.database_url, false).await
    }
}

/// Opens `url`. Only the commands that create databases (`seed`, `serve --create`) pass
/// `create`: for any other, a SQLite file that does not exist is a typo to report, not an
/// empty database to make and then find nothing in.
pub async fn open(url: &str, create: bool) -> Result<Store> {
    must_exist(url, create)?;
    Store::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(url)))
}

/// Fails when `url` names a SQLite file that is not there and `create` is off.
pub fn must_exist(url: &str, create: bool) -> Result<()> {
    if !create
        && let Some(path) = sqlite_path(url)
        && !path.exists()
    {
        bail!(
            "there is no database at {} ({url}); `rota seed` creates one with data, \
             `rota serve --create` an empty one",
            path.display()
        );
    }
    Ok(())
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

pub use rota_server::config::redacted;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_sqlite_file_is_an_error_that_names_it_unless_the_command_creates() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/typo.db", dir.path().display());
        let err = must_exist(&url, false).unwrap_err().to_string();
        assert!(
            err.contains("typo.db") && err.contains("rota seed"),
            "{err}"
        );
        assert!(must_exist(&url, true).is_ok());
        assert!(must_exist("sqlite::memory:", false).is_ok());
        assert!(must_exist("postgres://postgres@127.0.0.1/test", false).is_ok());
    }

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redacted("postgres://rota:s3cret@db.internal:5432/rota"),
            "postgres://rota:***@db.internal:5432/rota"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redacted("sqlite://rota.db"), "sqlite://rota.db");
    }
}
