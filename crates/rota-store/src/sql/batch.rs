//! Several statements as one unit of work: one round trip where the driver takes them.

use rota_core::store::{StoreError, StoreResult};
use sqlx::QueryBuilder;

use super::dialect::{Db, MULTI_STATEMENT};
use super::{Conn, DbRow};
use crate::rows::db_error;

/// Statements that run one after another as one unit of work. Where the driver takes
/// several statements in one query they go to the database in one round trip (on
/// SQLite each round trip is a hand-over to the connection's own thread and back, which
/// cost more than most of a command's statements themselves); otherwise one by one.
/// Parameters must be bound with `push_bind`, never written as `$n`: numbered
/// parameters would count from the first statement of the batch.
pub(super) struct Batch {
    parts: Vec<QueryBuilder<Db>>,
    /// Per statement, in order.
    checks: Vec<Check>,
}

/// The rows a statement must affect, and the error if it does not.
type Check = Option<(u64, fn() -> StoreError)>;

/// What one statement of a batch returned.
pub(super) struct Done {
    pub(super) rows: Vec<DbRow>,
}

impl Batch {
    pub(super) fn new() -> Self {
        Self {
            parts: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// Starts the next statement with `sql`; binds and more SQL go to what it returns.
    pub(super) fn push(&mut self, sql: &str) -> &mut QueryBuilder<Db> {
        self.push_checked(sql, None)
    }

    /// Starts a statement that fails the batch with `check.1()` unless it affects
    /// exactly `check.0` rows.
    pub(super) fn push_checked(&mut self, sql: &str, check: Check) -> &mut QueryBuilder<Db> {
        self.checks.push(check);
        match self.parts.last_mut() {
            Some(last) if MULTI_STATEMENT => {
                last.push("; ");
                last.push(sql);
            }
            _ => self.parts.push(QueryBuilder::new(sql)),
        }
        // Both arms leave at least one statement.
        let last = self.parts.len() - 1;
        &mut self.parts[last]
    }

    /// Runs the statements in order, stopping at the first that fails or misses its
    /// check; answers what each returned. An empty batch goes nowhere near the database.
    pub(super) async fn run(mut self, conn: &mut Conn) -> StoreResult<Vec<Done>> {
        use futures_util::TryStreamExt;
        use sqlx::Executor;
        let mut out = Vec::with_capacity(self.checks.len());
        let mut rows = Vec::new();
        for part in &mut self.parts {
            let mut steps = (&mut *conn).fetch_many(part.build());
            while let Some(step) = steps.try_next().await.map_err(db_error)? {
                match step {
                    sqlx::Either::Right(row) => rows.push(row),
                    sqlx::Either::Left(done) => {
                        if let Some(Some((want, fail))) = self.checks.get(out.len())
                            && done.rows_affected() != *want
                        {
                            return Err(fail());
                        }
                        out.push(Done {
                            rows: std::mem::take(&mut rows),
                        });
                    }
                }
            }
        }
        if out.len() != self.checks.len() {
            return Err(StoreError::Backend(
                format!(
                    "a batch of {} statements answered for {}",
                    self.checks.len(),
                    out.len()
                )
                .into(),
            ));
        }
        Ok(out)
    }
}
