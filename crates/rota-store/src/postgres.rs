//! PostgreSQL, for several API nodes sharing one database. A write transaction locks its
//! schedule's row (`SELECT … FOR UPDATE`) before reading anything else; it is the only lock a
//! command takes, so locks are always taken in the same order and cannot deadlock, and every
//! node commits versions of a schedule one at a time in version order.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use crate::cache::{WriteCache, WriteTx};
use crate::hosts::Hosts;
use crate::rows::db_error;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    cache: Arc<WriteCache>,
    hosts: Arc<Hosts>,
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date. `schema`, when given, is created
    /// if missing and used as the search path (one database can hold several rota instances,
    /// as the tests do).
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
    ) -> Result<Self, rota_core::store::StoreError> {
        let mut hosts = Hosts::parse(url)?;
        if hosts.several() {
            hosts.find_writable().await?;
        }
        if let Some(schema) = schema {
            let setup = PgPool::connect_with(hosts.current_options())
                .await
                .map_err(db_error)?;
            let ident = schema.replace('"', "\"\"");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{ident}\""
            )))
            .execute(&setup)
            .await
            .map_err(db_error)?;
            setup.close().await;
            hosts.map_options(|options| options.options([("search_path", schema)]));
        }
        let hosts = Arc::new(hosts);
        let mut pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5));
        if hosts.several() {
            // A connection is handed out only while its host takes writes; a new one only to
            // such a host (the pool retries until the acquire timeout, by when the watcher
            // has usually pointed it at the promoted host).
            let (on_acquire, on_connect) = (Arc::clone(&hosts), Arc::clone(&hosts));
            pool = pool
                .test_before_acquire(false)
                .before_acquire(move |conn, _| {
                    let hosts = Arc::clone(&on_acquire);
                    Box::pin(async move { hosts.usable(conn).await })
                })
                .after_connect(move |conn, _| {
                    let hosts = Arc::clone(&on_connect);
                    Box::pin(async move {
                        if hosts.usable(conn).await? {
                            Ok(())
                        } else {
                            Err(sqlx::Error::Io(std::io::Error::other(
                                "the database host does not take writes",
                            )))
                        }
                    })
                });
        }
        let pool = pool
            .connect_with(hosts.current_options())
            .await
            .map_err(db_error)?;
        if hosts.several() {
            tokio::spawn(Arc::clone(&hosts).watch(pool.clone()));
        }
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| rota_core::store::StoreError::Backend(Box::new(e)))?;
        let store = Self {
            pool,
            cache: Arc::default(),
            hosts,
        };
        store.backfill_coverage().await?;
        Ok(store)
    }

    /// The host (`host:port`) new connections go to: the one that took writes when last
    /// looked at.
    pub fn host(&self) -> String {
        self.hosts.current()
    }

    /// Counts the coverage of the schedules stored before coverage existed, once each.
    pub async fn backfill_coverage(&self) -> Result<(), rota_core::store::StoreError> {
        sql::backfill_coverage(self).await
    }

    /// Takes one request from `key`'s quota, shared by every node on this database: GCRA with
    /// one request per `interval` and a burst of `burst`, kept as the bucket's theoretical
    /// arrival time and advanced by a conditional upsert. `Ok(remaining)`, or `Err(wait)`
    /// when the quota is spent.
    pub async fn take_quota(
        &self,
        key: &str,
        now: jiff::Timestamp,
        interval: Duration,
        burst: u32,
    ) -> Result<Result<u32, Duration>, rota_core::store::StoreError> {
        let now = now.as_microsecond();
        let step = i64::try_from(interval.as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        let window = step.saturating_mul(i64::from(burst.max(1)));
        let taken: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_buckets (key, tat) VALUES ($1, $2 + $3) \
             ON CONFLICT (key) DO UPDATE SET tat = GREATEST(rate_buckets.tat, $2) + $3 \
             WHERE GREATEST(rate_buckets.tat, $2) + $3 - $4 <= $2 RETURNING tat",
        )
        .bind(key)
        .bind(now)
        .bind(step)
        .bind(window)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if let Some(tat) = taken {
            let room = (now + window - tat) / step;
            return Ok(Ok(u32::try_from(room.max(0)).unwrap_or(u32::MAX)));
        }
        let tat: i64 = sqlx::query_scalar("SELECT tat FROM rate_buckets WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let wait = (tat + step - window - now).max(0);
        Ok(Err(Duration::from_micros(u64::try_from(wait).unwrap_or(0))))
    }

    /// See [`sql::probe`].
    pub(crate) async fn probe(&self) -> Result<(), rota_core::store::StoreError> {
        sql::probe(self).await
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Drops `schema` and everything in it, on a connection of its own (the stores that used
    /// it may have closed their pools already): how a demo or bench run on a fresh schema of
    /// [`PgStore::connect`] cleans up.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), rota_core::store::StoreError> {
        let ident = schema.replace('"', "\"\"");
        let pool = PgPool::connect(url).await.map_err(db_error)?;
        let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{ident}\" CASCADE"
        )))
        .execute(&pool)
        .await
        .map_err(db_error);
        pool.close().await;
        dropped.map(|_| ())
    }

    async fn begin_write(
        &self,
    ) -> Result<WriteTx<Transaction<'static, Postgres>>, rota_core::store::StoreError> {
        let tx = self.pool.begin().await.map_err(db_error)?;
        Ok(WriteTx::new(tx, Arc::clone(&self.cache)))
    }
}

/// What PostgreSQL's SQL differs in, for the statements of [`sql`].
mod dialect {
    pub type Db = sqlx::Postgres;
    pub type Backend = super::PgStore;
    pub type WriteConn = sqlx::Transaction<'static, sqlx::Postgres>;
    /// The extended protocol takes one statement per query.
    pub const MULTI_STATEMENT: bool = false;
    /// Appended to the read of the schedule row inside a write transaction: writers of one
    /// schedule queue on its row.
    pub const SCHEDULE_LOCK: &str = " FOR UPDATE OF s";
    /// Appended to reads of a trade row inside a write transaction.
    pub const ROW_LOCK: &str = " FOR UPDATE";
    /// A business unit's time-off lock: its row, in a mode that leaves rows referring to the
    /// unit free to be written (foreign-key checks take `FOR KEY SHARE`).
    pub const UNIT_LOCK: &str = " FOR NO KEY UPDATE";
    /// Appended to the dispatcher's lease query, so two dispatchers never lease the same
    /// delivery.
    pub const SKIP_LOCKED: &str = " FOR UPDATE OF d SKIP LOCKED";
    /// One outbox fan-out at a time across every node: 1 if this transaction got the lock
    /// (held to its end), 0 if another has it (that one fans out; this one skips). The lock
    /// is the schema's: advisory locks are the database's, and a fan-out in another schema
    /// (another rota instance) would not fan out this one's outbox.
    pub const FAN_OUT_LOCK: &str = "SELECT CASE WHEN \
        pg_try_advisory_xact_lock(7411, hashtext(current_schema())) THEN 1 ELSE 0 END";
    /// The week starts (text, `YYYY-MM-DD`) 14 days before and after schedule `s`'s.
    pub const WEEKS_BEFORE: &str = "to_char(s.week_start::date - 14, 'YYYY-MM-DD')";
    pub const WEEKS_AFTER: &str = "to_char(s.week_start::date + 14, 'YYYY-MM-DD')";
    /// Shift and agent columns (in the order of `SHIFT_COLS` and `AGENT_COLS`) as one JSON
    /// array text.
    /// Coverage cells as one JSON array (see `SHIFT_JSON` for why).
    pub const CELLS_JSON: &str =
        "json_agg(json_build_array(skill, slot, required, scheduled))::text";
    /// Begins a read transaction that sees one state of the database throughout.
    pub const READ_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    pub const SHIFT_JSON: &str = "json_agg(json_build_array(id, schedule_id, owner_agent_id, \
        start_at, end_at, required_skill, activity_code, \
        (SELECT activities FROM shift_activities WHERE shift_id = shifts.id), version))::text";
    /// A shift without its activities (`ShiftSlot`), as one JSON array.
    pub const SLOT_JSON: &str = "json_agg(json_build_array(id, owner_agent_id, start_at, end_at, \
        required_skill, version))::text";
    /// An agent's id, name and skills, as one JSON array.
    pub const ROSTER_JSON: &str = "json_agg(json_build_array(id, name, skills))::text";
    pub const AGENT_JSON: &str = "json_agg(json_build_array(id, business_unit_id, \
        management_unit_id, name, skills, max_paid_minutes_per_week, min_rest_minutes, \
        availability, time_off))::text";
}

// Compiled once per backend against its `dialect` (see the module's own doc).
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
