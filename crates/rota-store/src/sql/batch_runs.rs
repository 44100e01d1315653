//! Bulk swap batches started from the portal: their progress and per-swap report.

use std::collections::BTreeMap;

use const_format::concatcp;
use rota_core::ids::{BatchRunId, BusinessUnitId, ScheduleId};
use rota_core::store::{Page, PageRequest, StoreError, StoreResult};

use crate::batch_runs::BatchRun;
use sqlx::Row;
use uuid::Uuid;

use super::DbRow;
use super::dialect::Backend;
use crate::rows::{self, db_error, micros};

const COLUMNS: &str = "id, business_unit_id, schedule_id, started_by, source, total, done, \
                       counts, finished, detail, created_at, updated_at";

fn decode(r: &DbRow) -> StoreResult<BatchRun> {
    let counts: String = r.try_get(7).map_err(db_error)?;
    let count = |i| -> StoreResult<u32> {
        let n: i64 = r.try_get(i).map_err(db_error)?;
        u32::try_from(n).map_err(|_| rows::corrupt(format!("batch run count {n}")))
    };
    Ok(BatchRun {
        id: BatchRunId::from_uuid(r.try_get::<Uuid, _>(0).map_err(db_error)?),
        business_unit: BusinessUnitId::from_uuid(r.try_get::<Uuid, _>(1).map_err(db_error)?),
        schedule: ScheduleId::from_uuid(r.try_get::<Uuid, _>(2).map_err(db_error)?),
        started_by: r.try_get(3).map_err(db_error)?,
        source: r.try_get(4).map_err(db_error)?,
        total: count(5)?,
        done: count(6)?,
        counts: serde_json::from_str(&counts)
            .map_err(|e| rows::corrupt(format!("batch run counts: {e}")))?,
        finished: r.try_get(8).map_err(db_error)?,
        detail: r.try_get(9).map_err(db_error)?,
        created_at: rows::instant(r.try_get(10).map_err(db_error)?)?,
        updated_at: rows::instant(r.try_get(11).map_err(db_error)?)?,
    })
}

impl crate::batch_runs::BatchRunStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_batch_run(&self, run: &BatchRun) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO batch_runs (id, business_unit_id, schedule_id, started_by, source, total, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(run.id.as_uuid())
        .bind(run.business_unit.as_uuid())
        .bind(run.schedule.as_uuid())
        .bind(&run.started_by)
        .bind(&run.source)
        .bind(i64::from(run.total))
        .bind(micros(run.created_at))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn batch_run(&self, id: BatchRunId) -> StoreResult<BatchRun> {
        let row = sqlx::query(concatcp!(
            "SELECT ",
            COLUMNS,
            " FROM batch_runs WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::not_found("batch run", id))?;
        decode(&row)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn batch_runs(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> StoreResult<Page<BatchRun>> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM batch_runs WHERE business_unit_id = $1")
                .bind(bu.as_uuid())
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        let rows = sqlx::query(concatcp!(
            "SELECT ",
            COLUMNS,
            " FROM batch_runs WHERE business_unit_id = $1 ORDER BY created_at DESC, id DESC \
             LIMIT $2 OFFSET $3"
        ))
        .bind(bu.as_uuid())
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(Page {
            items: rows.iter().map(decode).collect::<StoreResult<_>>()?,
            total: u64::try_from(total).unwrap_or(0),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn record_batch_progress(
        &self,
        id: BatchRunId,
        lines: &str,
        done: u32,
        counts: &BTreeMap<String, u32>,
        now: jiff::Timestamp,
    ) -> StoreResult<()> {
        let counts = serde_json::to_string(counts).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let updated = sqlx::query(
            "UPDATE batch_runs SET report = report || $2, done = $3, counts = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(lines)
        .bind(i64::from(done))
        .bind(counts)
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::not_found("batch run", id));
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn finish_batch_run(
        &self,
        id: BatchRunId,
        detail: Option<&str>,
        now: jiff::Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE batch_runs SET finished = TRUE, detail = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(detail)
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn batch_report(&self, id: BatchRunId) -> StoreResult<String> {
        sqlx::query_scalar("SELECT report FROM batch_runs WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::not_found("batch run", id))
    }
}
