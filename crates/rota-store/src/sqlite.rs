//! The embedded default: SQLite in WAL mode. Every write transaction of a process runs on one
//! dedicated writer connection: writers of this process queue for it in order instead of
//! spinning on SQLITE_BUSY, and its page cache stays warm (in WAL mode a connection drops its
//! cache whenever another connection has written). Commands that queue behind each other share
//! one transaction and one commit (group commit, see the `group` module). `BEGIN IMMEDIATE`
//! takes the database write lock before the first read, so a transaction never reads a state
//! that another process then changes under it. Reads use a separate pool.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::cache::{WriteCache, WriteTx};
use crate::group::{GroupTx, Writer};
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
    writer: Arc<Writer>,
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
            // Pages of 1 KiB for a new database (an existing one keeps its own). A swap changes
            // a few scattered shift rows, each on a page of its own once the schedule is large,
            // and a commit writes every page it changed, whole, to the log and syncs it: at
            // 10,000 agents a 50-swap commit wrote ~100 pages, so the page size set how many
            // bytes each commit waited on (`docs/BENCHMARKS.md`).
            .page_size(1024)
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
            // No memory map: in WAL mode a connection unmaps the file whenever another one has
            // written, so every read transaction after a commit paid an munmap (and the other
            // core a TLB flush) to save copies the page cache makes anyway.
            .pragma("mmap_size", "0")
            // Multi-row statements keep a statement journal to undo a failed statement; in a
            // temporary file that was a file created, written and deleted per statement.
            .pragma("temp_store", "memory")
            // Checkpoints run in the background (see `checkpoints`); the writer checkpoints
            // itself only if the log grows past this many pages (64 MiB), so a request does not
            // pay for copying the log into the database.
            .pragma("wal_autocheckpoint", "16384");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| rota_core::store::StoreError::Backend(Box::new(e)))?;
        tokio::spawn(checkpoints(pool.clone()));
        // The one writer connection lives as long as the store, keeping its page cache.
        let writer = options.connect().await.map_err(db_error)?;
        let cache = Arc::<WriteCache>::default();
        let store = Self {
            pool,
            writer: Writer::new(writer, Arc::clone(&cache), Duration::from_secs(30)),
            cache,
        };
        store.backfill_coverage().await?;
        Ok(store)
    }

    /// Counts the coverage of the schedules stored before coverage existed, once each.
    pub async fn backfill_coverage(&self) -> Result<(), rota_core::store::StoreError> {
        sql::backfill_coverage(self).await
    }

    /// See [`sql::probe`].
    pub(crate) async fn probe(&self) -> Result<(), rota_core::store::StoreError> {
        sql::probe(self).await
    }

    /// Caps the database at `pages` pages (`PRAGMA max_page_count` on the writer): a quota an
    /// operator sets, and how the fault drills fill the database without a full disk. Answers
    /// the cap in force.
    pub async fn limit_pages(&self, pages: u64) -> Result<u64, rota_core::store::StoreError> {
        let mut w = self.begin_write().await?;
        let cap: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_error)?;
        w.commit().await?;
        Ok(u64::try_from(cap).unwrap_or(0))
    }

    /// Makes the writer refuse writes (`PRAGMA query_only`), or take them again: how the fault
    /// drills make the database read-only without changing the file's permissions.
    pub async fn set_read_only(&self, on: bool) -> Result<(), rota_core::store::StoreError> {
        self.writer
            .configure(if on {
                "PRAGMA query_only = ON"
            } else {
                "PRAGMA query_only = OFF"
            })
            .await
    }

    /// The pages the database holds now.
    pub async fn page_count(&self) -> Result<u64, rota_core::store::StoreError> {
        let n: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub fn pool(&self) -> &Pool<Sqlite> {
        &self.pool
    }

    /// Copies the whole write-ahead log into the database and empties the log, waiting for
    /// readers if it must. The background checkpoints copy the log a second at a time; after a
    /// bulk load (a 10,000-agent import writes ~20 MB of log) this settles it at once, so that
    /// the copying does not land on whatever runs next.
    pub async fn checkpoint(&self) -> Result<(), rota_core::store::StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Closes the read pool; the writer connection closes with the last handle on the store.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<WriteTx<GroupTx>, rota_core::store::StoreError> {
        Ok(WriteTx::new(
            self.writer.begin().await?,
            Arc::clone(&self.cache),
        ))
    }
}

/// Copies the write-ahead log into the database every [`CHECKPOINT_EVERY`], beside the
/// writer: a passive checkpoint waits for no one and blocks no one. Ends when the pool closes.
async fn checkpoints(pool: Pool<Sqlite>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "a background checkpoint failed");
        }
    }
}

const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What SQLite's SQL differs in, for the statements of [`sql`].
mod dialect {
    pub type Db = sqlx::Sqlite;
    pub type Backend = super::SqliteStore;
    pub type WriteConn = crate::group::GroupTx;
    /// SQLite takes several statements with parameters in one query: one round trip.
    pub const MULTI_STATEMENT: bool = true;
    /// `BEGIN IMMEDIATE` already holds the database write lock: rows need no lock of their own.
    pub const SCHEDULE_LOCK: &str = "";
    pub const ROW_LOCK: &str = "";
    pub const UNIT_LOCK: &str = "";
    pub const SKIP_LOCKED: &str = "";
    /// The outbox's fan-out runs in a write transaction: the writer is already alone.
    pub const FAN_OUT_LOCK: &str = "SELECT 1";
    /// The week starts (text, `YYYY-MM-DD`) 14 days before and after schedule `s`'s.
    pub const WEEKS_BEFORE: &str = "date(s.week_start, '-14 days')";
    pub const WEEKS_AFTER: &str = "date(s.week_start, '+14 days')";
    /// Shift and agent columns (in the order of `SHIFT_COLS` and `AGENT_COLS`) as one JSON
    /// array text.
    /// Coverage cells as one JSON array (see `SHIFT_JSON` for why).
    pub const CELLS_JSON: &str = "json_group_array(json_array(skill, slot, required, scheduled))";
    /// Begins a read transaction that sees one state of the database throughout.
    pub const READ_SNAPSHOT: &str = "BEGIN";
    pub const SHIFT_JSON: &str = "json_group_array(json_array(lower(hex(id)), \
        lower(hex(schedule_id)), lower(hex(owner_agent_id)), start_at, end_at, required_skill, \
        activity_code, \
        (SELECT activities FROM shift_activities WHERE shift_id = shifts.id), version))";
    /// A shift without its activities (`ShiftSlot`), as one JSON array.
    pub const SLOT_JSON: &str = "json_group_array(json_array(lower(hex(id)), \
        lower(hex(owner_agent_id)), start_at, end_at, required_skill, version))";
    /// An agent's id, name and skills, as one JSON array.
    pub const ROSTER_JSON: &str = "json_group_array(json_array(lower(hex(id)), name, skills))";
    pub const AGENT_JSON: &str = "json_group_array(json_array(lower(hex(id)), \
        lower(hex(business_unit_id)), lower(hex(management_unit_id)), name, skills, \
        max_paid_minutes_per_week, min_rest_minutes, availability, time_off))";
}

// Compiled once per backend against its `dialect` (see the module's own doc).
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
