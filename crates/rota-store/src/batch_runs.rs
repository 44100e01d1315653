//! The portal's bulk swap batch runs and their reports: a record of a feature of the portal,
//! not of the domain, so its type and trait live with the storage rather than in rota-core.

use std::future::Future;

use rota_core::ids::{BatchRunId, BusinessUnitId, ScheduleId};
use rota_core::store::{Page, PageRequest, StoreResult};

/// A bulk swap batch started from the portal: its progress and its per-swap report, kept in
/// the database so that any node shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRun {
    pub id: BatchRunId,
    pub business_unit: BusinessUnitId,
    pub schedule: ScheduleId,
    /// Who started it (`user:NAME`).
    pub started_by: String,
    /// The uploaded file's name.
    pub source: String,
    pub total: u32,
    /// Swaps with a final report line.
    pub done: u32,
    /// Report lines per final status (`applied`, `stale`, …).
    pub counts: std::collections::BTreeMap<String, u32>,
    pub finished: bool,
    /// Why it stopped early, if it did.
    pub detail: Option<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// Batch runs of the portal and their reports.
pub trait BatchRunStore: Send + Sync {
    fn create_batch_run(&self, run: &BatchRun) -> impl Future<Output = StoreResult<()>> + Send;
    fn batch_run(&self, id: BatchRunId) -> impl Future<Output = StoreResult<BatchRun>> + Send;
    /// Newest first.
    fn batch_runs(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<BatchRun>>> + Send;
    /// Appends report lines (JSON Lines, each ending in a newline) and sets the progress.
    fn record_batch_progress(
        &self,
        id: BatchRunId,
        lines: &str,
        done: u32,
        counts: &std::collections::BTreeMap<String, u32>,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn finish_batch_run(
        &self,
        id: BatchRunId,
        detail: Option<&str>,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The report so far, JSON Lines in input order of completion.
    fn batch_report(&self, id: BatchRunId) -> impl Future<Output = StoreResult<String>> + Send;
}
