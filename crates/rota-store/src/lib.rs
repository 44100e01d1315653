//! rota's storage: SQLite (the embedded default) and PostgreSQL behind rota-core's store
//! traits, with migrations per backend run at start.
//!
//! - `sql` (`src/sql/`): the SQL of both backends, written once, one module per aggregate,
//!   compiled per backend against its `dialect`.
//! - [`sqlite`]: the SQLite store (WAL, `BEGIN IMMEDIATE`).
//! - [`postgres`]: the PostgreSQL store (schedule row locks); `hosts`: the host that takes
//!   writes among several, through a failover.
//! - [`rows`]: conversions between columns and domain values.
//! - [`batch_runs`]: the portal's batch runs (a portal record, not the domain's).
//! - [`Store`]: either backend, chosen by the database URL (`delegate`: its trait impls).
#![forbid(unsafe_code)]

pub mod batch_runs;
mod cache;
mod delegate;
mod group;
mod hosts;
mod rows;

pub mod postgres;
pub mod sqlite;

use rota_core::store::{StoreError, StoreResult};

pub use postgres::PgStore;
pub use sqlite::{Durability, SqliteStore};

/// Either backend, chosen at start from the database URL; what the server and the CLI hold.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite:…` SQLite.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect(url, None).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(
                SqliteStore::connect(url, Durability::default()).await?,
            ))
        } else {
            Err(StoreError::Unavailable(
                format!("unsupported database URL `{url}`: use sqlite://PATH or postgres://…")
                    .into(),
            ))
        }
    }

    /// Whether the database answers and takes writes: what readiness probes ask. A failure
    /// is `Unavailable` whatever its cause: the node cannot serve writes now.
    pub async fn ping(&self) -> StoreResult<()> {
        let result = match self {
            Self::Sqlite(s) => s.probe().await,
            Self::Postgres(s) => s.probe().await,
        };
        result.map_err(|e| match e {
            StoreError::Unavailable(e) | StoreError::Busy(e) | StoreError::Backend(e) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Unavailable(Box::new(other)),
        })
    }

    /// Closes every connection: what a graceful shutdown does last. Commands after it fail
    /// as `Unavailable`.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.pool().close().await,
        }
    }

    /// Counts the coverage of the schedules stored before coverage existed (or marked for a
    /// recount): what opening the store does after its migrations.
    pub async fn backfill_coverage(&self) -> StoreResult<()> {
        match self {
            Self::Sqlite(s) => s.backfill_coverage().await,
            Self::Postgres(s) => s.backfill_coverage().await,
        }
    }

    /// The database host (`host:port`) the store writes to; `None` for SQLite.
    pub fn host(&self) -> Option<String> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(s) => Some(s.host()),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}
