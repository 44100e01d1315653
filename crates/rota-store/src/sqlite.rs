//! The embedded default: SQLite in WAL mode. Writers are serialised twice over: by an
//! in-process mutex, so writers of this process queue in order instead of spinning on
//! SQLITE_BUSY, and by `BEGIN IMMEDIATE`, which takes the database write lock before the first
//! read, so a transaction never reads a state another process then changes under it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::rows::db_error;

/// How durable a commit is on SQLite (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is on stable storage before it is acknowledged (`FULL`): survives power loss.
    #[default]
    Full,
    /// Commits survive a crash of rota but the last ones may be lost on power loss or an OS
    /// crash (`NORMAL`); the database is never corrupted.
    Normal,
}

#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<Sqlite>,
    writer: Arc<Mutex<()>>,
}

pub(crate) struct WriteTx {
    pub tx: Transaction<'static, Sqlite>,
    _writer: OwnedMutexGuard<()>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and brings its schema up to date.
    pub async fn connect(
        url: &str,
        durability: Durability,
    ) -> Result<Self, rota_core::store::StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // A swap reads scattered rows of the shift and agent tables; a page cache that holds
            // a large schedule's working set keeps its cost independent of the schedule's size.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| rota_core::store::StoreError::Backend(Box::new(e)))?;
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(())),
        })
    }

    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    async fn begin_write(&self) -> Result<WriteTx, rota_core::store::StoreError> {
        let guard = Arc::clone(&self.writer).lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        Ok(WriteTx { tx, _writer: guard })
    }
}

mod queries {
    crate::sql::store_impl!(super::SqliteStore, sqlx::Sqlite, "");
}
