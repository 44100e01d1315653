//! Idempotency keys: recorded in a command's own transaction, or claimed for the
//! requests that are not one command.

use const_format::concatcp;
use rota_core::store::{StoreError, StoreResult};
use rota_core::version::CommitContext;
use sqlx::Row;

use super::batch::Batch;
use super::dialect::{Backend, SCHEDULE_LOCK};
use super::{Conn, DbRow};
use crate::rows::{db_error, micros};

/// Adds to `batch` the statement that records the request's idempotency key with the
/// command's result, so the change and its key commit together or not at all. A key
/// that is live (recorded, or claimed by a request still running) is not taken over:
/// the batch fails with `KeyTaken` and the command's transaction rolls back.
pub(super) fn push_key<T: serde::Serialize>(
    batch: &mut Batch,
    ctx: &CommitContext,
    result: &T,
) -> StoreResult<()> {
    let Some(record) = &ctx.idempotency else {
        return Ok(());
    };
    let json = serde_json::to_string(result).map_err(|e| StoreError::Backend(Box::new(e)))?;
    let now = micros(ctx.now);
    batch
        .push_checked(
            "INSERT INTO idempotency_keys (client_id, idempotency_key, request_hash, result, lease_until, expires_at) VALUES (",
            Some((1, || StoreError::KeyTaken)),
        )
        .separated(", ")
        .push_bind(record.claim.client.clone())
        .push_bind(record.claim.key.clone())
        .push_bind(record.request_hash.clone())
        .push_bind(json)
        .push_bind(now)
        .push_bind(micros(record.expires_at))
        .push_unseparated(
            ") ON CONFLICT (client_id, idempotency_key) DO UPDATE SET \
             request_hash = excluded.request_hash, result = excluded.result, lease_until = excluded.lease_until, \
             expires_at = excluded.expires_at \
             WHERE idempotency_keys.expires_at <= ",
        )
        .push_bind_unseparated(now)
        .push_unseparated(" OR (idempotency_keys.result IS NULL AND idempotency_keys.lease_until <= ")
        .push_bind_unseparated(now)
        .push_unseparated(")");
    Ok(())
}

/// Records the request's idempotency key with the command's result now (see
/// [`push_key`]).
pub(super) async fn record_result<T: serde::Serialize>(
    conn: &mut Conn,
    ctx: &CommitContext,
    result: &T,
) -> StoreResult<()> {
    let mut batch = Batch::new();
    push_key(&mut batch, ctx, result)?;
    batch.run(conn).await?;
    Ok(())
}

/// What a stored key means for a request with `request_hash` at `now`; `None` when the
/// key is free (forgotten, or claimed by a request that died).
pub(super) fn key_state(
    row: &DbRow,
    request_hash: &str,
    now: jiff::Timestamp,
) -> StoreResult<Option<rota_core::store::ClaimOutcome>> {
    use rota_core::store::ClaimOutcome;
    let hash: String = row.try_get(0).map_err(db_error)?;
    let result: Option<String> = row.try_get(1).map_err(db_error)?;
    let lease_until: i64 = row.try_get(2).map_err(db_error)?;
    let expires_at: i64 = row.try_get(3).map_err(db_error)?;
    Ok(if expires_at <= micros(now) {
        None
    } else if hash != request_hash {
        Some(ClaimOutcome::Mismatch)
    } else if let Some(result) = result {
        Some(ClaimOutcome::Replay(result))
    } else if lease_until > micros(now) {
        Some(ClaimOutcome::InProgress)
    } else {
        None
    })
}

impl rota_core::store::IdempotencyStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn claim(
        &self,
        claim: &rota_core::store::IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
        lease: std::time::Duration,
        keep: std::time::Duration,
    ) -> StoreResult<rota_core::store::ClaimOutcome> {
        use rota_core::store::ClaimOutcome;
        let at = |d: std::time::Duration| {
            micros(now) + i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2)
        };
        let mut w = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (client_id, idempotency_key, request_hash, result, lease_until, expires_at) \
             VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (client_id, idempotency_key) DO NOTHING",
        )
        .bind(&claim.client)
        .bind(&claim.key)
        .bind(request_hash)
        .bind(at(lease))
        .bind(at(keep))
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        if inserted.rows_affected() == 1 {
            w.commit().await?;
            return Ok(ClaimOutcome::Claimed);
        }
        let row = sqlx::query(concatcp!(
            "SELECT s.request_hash, s.result, s.lease_until, s.expires_at FROM idempotency_keys s \
             WHERE s.client_id = $1 AND s.idempotency_key = $2",
            SCHEDULE_LOCK
        ))
        .bind(&claim.client)
        .bind(&claim.key)
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_error)?;
        let outcome = if let Some(outcome) = key_state(&row, request_hash, now)? {
            outcome
        } else {
            // Forgotten, or claimed by a request that died before changing anything.
            sqlx::query(
                "UPDATE idempotency_keys SET request_hash = $1, result = NULL, lease_until = $2, expires_at = $3 \
                 WHERE client_id = $4 AND idempotency_key = $5",
            )
            .bind(request_hash)
            .bind(at(lease))
            .bind(at(keep))
            .bind(&claim.client)
            .bind(&claim.key)
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
            ClaimOutcome::Claimed
        };
        w.commit().await?;
        Ok(outcome)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn lookup(
        &self,
        claim: &rota_core::store::IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<rota_core::store::ClaimOutcome> {
        let row = sqlx::query(
            "SELECT request_hash, result, lease_until, expires_at FROM idempotency_keys \
             WHERE client_id = $1 AND idempotency_key = $2",
        )
        .bind(&claim.client)
        .bind(&claim.key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let state = row
            .as_ref()
            .map(|r| key_state(r, request_hash, now))
            .transpose()?
            .flatten();
        Ok(state.unwrap_or(rota_core::store::ClaimOutcome::Claimed))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn complete(
        &self,
        claim: &rota_core::store::IdempotencyClaim,
        result: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET result = $1 WHERE client_id = $2 AND idempotency_key = $3",
        )
        .bind(result)
        .bind(&claim.client)
        .bind(&claim.key)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn release(&self, claim: &rota_core::store::IdempotencyClaim) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE client_id = $1 AND idempotency_key = $2 AND result IS NULL")
            .bind(&claim.client)
            .bind(&claim.key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_idempotency(&self, now: jiff::Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
