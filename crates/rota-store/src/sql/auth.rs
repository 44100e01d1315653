//! API clients, their tokens, and the principal a token stands for.

use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::store::StoreResult;
use sqlx::Row;
use uuid::Uuid;

use super::DbRow;
use super::dialect::Backend;
use crate::rows::{self, db_error, micros};

/// Columns: client_id, secret_hash, role, business_unit_id, agent_id.
pub(super) fn decode_client(r: &DbRow) -> StoreResult<rota_core::auth::ApiClient> {
    let role: String = r.try_get(2).map_err(db_error)?;
    Ok(rota_core::auth::ApiClient {
        client_id: r.try_get(0).map_err(db_error)?,
        secret_hash: r.try_get(1).map_err(db_error)?,
        role: rota_core::auth::Role::parse(&role)
            .ok_or_else(|| rows::corrupt(format!("role {role}")))?,
        business_unit: r
            .try_get::<Option<Uuid>, _>(3)
            .map_err(db_error)?
            .map(BusinessUnitId::from_uuid),
        agent: r
            .try_get::<Option<Uuid>, _>(4)
            .map_err(db_error)?
            .map(AgentId::from_uuid),
    })
}

impl rota_core::store::AuthStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_client(&self, client: &rota_core::auth::ApiClient) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_clients (client_id, secret_hash, role, business_unit_id, agent_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&client.client_id)
        .bind(&client.secret_hash)
        .bind(client.role.as_str())
        .bind(client.business_unit.map(|b| b.as_uuid()))
        .bind(client.agent.map(|a| a.as_uuid()))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn client(&self, client_id: &str) -> StoreResult<Option<rota_core::auth::ApiClient>> {
        let row = sqlx::query(
            "SELECT client_id, secret_hash, role, business_unit_id, agent_id FROM api_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(decode_client).transpose()
    }

    async fn clients(&self) -> StoreResult<Vec<rota_core::auth::ApiClient>> {
        let rows = sqlx::query(
            "SELECT client_id, secret_hash, role, business_unit_id, agent_id FROM api_clients ORDER BY client_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(decode_client).collect()
    }

    async fn revoke_client(&self, client_id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("DELETE FROM access_tokens WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let deleted = sqlx::query("DELETE FROM api_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        tx.commit().await.map_err(db_error)?;
        Ok(deleted > 0)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn store_token(
        &self,
        token_hash: &str,
        client_id: &str,
        expires_at: jiff::Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, client_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(client_id)
        .bind(micros(expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn live_tokens(&self, client_id: &str, now: jiff::Timestamp) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM access_tokens WHERE client_id = $1 AND expires_at > $2",
        )
        .bind(client_id)
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// One query per API request: the token and its client together.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_tokens(&self, now: jiff::Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM access_tokens WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn principal(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<Option<(rota_core::auth::Principal, jiff::Timestamp)>> {
        let row = sqlx::query(
            "SELECT c.client_id, c.secret_hash, c.role, c.business_unit_id, c.agent_id, t.expires_at \
             FROM access_tokens t JOIN api_clients c ON c.client_id = t.client_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = rows::instant(row.try_get(5).map_err(db_error)?)?;
        Ok(Some((decode_client(&row)?.principal(), expires_at)))
    }
}
