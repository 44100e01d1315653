//! The embedded default: SQLite in WAL mode. Every write transaction of a process runs on one
//! dedicated writer connection, taken from a pool of exactly one: writers of this process
//! queue for it in order instead of spinning on SQLITE_BUSY, and its page cache stays warm
//! (in WAL mode a connection drops its cache whenever another connection has written, so
//! rotating writes over a pool made every swap re-read its pages). `BEGIN IMMEDIATE` takes the
//! database write lock before the first read, so a transaction never reads a state that
//! another process then changes under it. Reads use a separate pool.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::cache::{WriteCache, WriteTx};
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
    writer: Pool<Sqlite>,
    cache: Arc<WriteCache>,
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
            .pragma("mmap_size", "268435456")
            // Multi-row statements keep a statement journal to undo a failed statement; in a
            // temporary file that was a file created, written and deleted per statement.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(db_error)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // The one writer connection lives as long as the store, keeping its cache.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| rota_core::store::StoreError::Backend(Box::new(e)))?;
        Ok(Self {
            pool,
            writer,
            cache: Arc::default(),
        })
    }

    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<WriteTx<Sqlite>, rota_core::store::StoreError> {
        let tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| match e {
                // Waiting for this process's other writers past the timeout is contention, not
                // an outage: the command can be retried as it is.
                sqlx::Error::PoolTimedOut => rota_core::store::StoreError::Busy(Box::new(e)),
                other => db_error(other),
            })?;
        Ok(WriteTx::new(tx, Arc::clone(&self.cache)))
    }
}

mod queries {
    crate::sql::store_impl!(
        super::SqliteStore,
        sqlx::Sqlite,
        lock: "",
        shift_json: "json_group_array(json_array(lower(hex(id)), lower(hex(schedule_id)), \
                     lower(hex(owner_agent_id)), start_at, end_at, required_skill, activity_code, version))",
        agent_json: "json_group_array(json_array(lower(hex(id)), lower(hex(business_unit_id)), \
                     lower(hex(management_unit_id)), name, skills, max_paid_minutes_per_week, \
                     min_rest_minutes, availability))"
    );
    crate::sql_trades::trades_impl!(super::SqliteStore, sqlx::Sqlite, row_lock: "", skip_locked: "");
}
