//! The SQL of both backends, written once. SQLite and PostgreSQL accept the same statements
//! here (`$n` parameters, `WITH … UPDATE … FROM`), so each backend compiles this module tree as
//! its own (`#[path = "sql/mod.rs"] mod sql;` in `sqlite.rs` and `postgres.rs`) against its
//! `dialect` module: the sqlx driver, the store type, and what differs in the SQL itself (how a
//! write transaction locks rows, whether several statements go in one round trip, JSON
//! aggregation, date arithmetic). A trait generic over `sqlx::Database` was the alternative;
//! sqlx's executor, encode and decode bounds are not implied from a trait's bounds, so every
//! function here would have carried a dozen where-clauses. Compiled per backend, each function
//! is ordinary Rust on a concrete driver, type-checked for both.
//!
//! - `batch`: several statements as one unit of work (one round trip where the driver allows).
//! - `decode`: rows of this driver into domain values; reads of shifts and agents by id.
//! - `snapshot`: what the engine needs for a command, from the write cache validated under lock.
//! - `commands`: writing a version (row, shifts, change log, events) and committing a plan.
//! - `coverage`: coverage kept by every commit, the guard's reads, the requirement, as-of reads.
//! - `held`: changes the coverage guard held, and a supervisor's decision on them.
//! - `outbox`: which events subscriptions want, and writing them with their deliveries.
//! - `idempotency`: keys recorded in the command's own transaction; claims for the others.
//! - `time_off`: time-off requests, the policy, decisions, balances, allowances, the waitlist.
//! - `trade_rows`: a trade's row, its state moves, and a match checked and applied.
//! - `batch_runs`: bulk swap batches started from the portal, their progress and report.
//! - `directory`, `auth`, `users`, `schedules`, `trades`, `webhooks`: the store traits, one per
//!   file.

mod auth;
mod batch;
mod batch_runs;
mod commands;
mod coverage;
mod decode;
mod directory;
mod held;
mod idempotency;
mod outbox;
mod schedules;
mod snapshot;
mod time_off;
mod trade_rows;
mod trades;
mod users;
mod webhooks;

use super::dialect::{self, Db, WriteConn};

pub(crate) use coverage::backfill as backfill_coverage;

/// Whether the database takes writes now: a write transaction that inserts a row larger than
/// a page and deletes it again. A database that is full, read-only or unreachable fails it,
/// classified as `Unavailable`.
pub(crate) async fn probe(store: &dialect::Backend) -> rota_core::store::StoreResult<()> {
    // Reads go through the pool, writes (on SQLite) through a connection of their own: both
    // must answer.
    sqlx::query("SELECT 1")
        .execute(store.pool())
        .await
        .map_err(crate::rows::db_error)?;
    let mut w = store.begin_write().await?;
    sqlx::query("INSERT INTO readiness (id, probe) VALUES (1, $1)")
        // Varied, so that no compression can shrink it.
        .bind(
            (0..512)
                .map(|i: u32| format!("{:08x}", i.wrapping_mul(2_654_435_761)))
                .collect::<String>(),
        )
        .execute(&mut *w.tx)
        .await
        .map_err(crate::rows::db_error)?;
    sqlx::query("DELETE FROM readiness")
        .execute(&mut *w.tx)
        .await
        .map_err(crate::rows::db_error)?;
    w.commit().await
}

type Conn = <Db as sqlx::Database>::Connection;
type Tx = crate::cache::WriteTx<WriteConn>;
type DbRow = <Db as sqlx::Database>::Row;

/// Rows per multi-row statement: well under both drivers' bind-parameter limits.
const CHUNK: usize = 500;

/// Rows per `UPDATE shifts … FROM v`. Without table statistics SQLite's planner guesses
/// the shift table's size; from about 250 rows in `v` on it chose to scan the whole
/// shift table and probe `v` for each row (SQLite 3.51, checked with `EXPLAIN QUERY
/// PLAN`), so a large request's cost grew with the schedule. At 100 it seeks each shift
/// by its key.
const UPDATE_CHUNK: usize = 100;
