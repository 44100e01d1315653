//! Business units, management units and agents.

use const_format::concatcp;
use rota_core::directory::{Agent, Availability, BusinessUnit, ManagementUnit};
use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::store::{DirectoryStore, Page, PageRequest, StoreError, StoreResult};
use rota_core::webhook::EventType;
use sqlx::QueryBuilder;

use super::CHUNK;
use super::decode::{
    AGENT_COLS, agents_by_ids, decode_agent, decode_business_unit, page_args, total,
};
use super::dialect::{Backend, Db, ROSTER_JSON};
use super::outbox::emit;
use crate::rows::{self, db_error};

impl DirectoryStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_business_unit(&self, bu: &BusinessUnit) -> StoreResult<()> {
        sqlx::query("INSERT INTO business_units (id, name, time_zone, first_day_of_week) VALUES ($1, $2, $3, $4)")
            .bind(bu.id.as_uuid())
            .bind(&bu.name)
            .bind(bu.time_zone.name())
            .bind(rows::day_name(bu.first_day_of_week))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn business_unit(&self, id: BusinessUnitId) -> StoreResult<BusinessUnit> {
        let row = sqlx::query(
            "SELECT id, name, time_zone, first_day_of_week FROM business_units WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::not_found("business unit", id))?;
        decode_business_unit(&row)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn business_units(&self, page: PageRequest) -> StoreResult<Page<BusinessUnit>> {
        let (limit, offset) = page_args(page);
        let rows = sqlx::query(
            "SELECT id, name, time_zone, first_day_of_week FROM business_units ORDER BY name, id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM business_units")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(Page {
            items: rows
                .iter()
                .map(decode_business_unit)
                .collect::<StoreResult<_>>()?,
            total: total(count),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_management_unit(&self, mu: &ManagementUnit) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO management_units (id, business_unit_id, name) VALUES ($1, $2, $3)",
        )
        .bind(mu.id.as_uuid())
        .bind(mu.business_unit_id.as_uuid())
        .bind(&mu.name)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_agents(&self, agents: &[Agent]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        for chunk in agents.chunks(CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!("INSERT INTO agents ({AGENT_COLS}) "));
            q.push_values(chunk, |mut row, a| {
                row.push_bind(a.id.as_uuid())
                    .push_bind(a.business_unit_id.as_uuid())
                    .push_bind(a.management_unit_id.map(|m| m.as_uuid()))
                    .push_bind(a.name.clone())
                    .push_bind(rows::skills_json(&a.skills))
                    .push_bind(i64::from(a.max_paid_minutes_per_week))
                    .push_bind(i64::from(a.min_rest_minutes))
                    .push_bind(rows::availability_json(&a.availability))
                    .push_bind(rows::time_off_json(&a.time_off));
            });
            q.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn agent(&self, id: AgentId) -> StoreResult<Agent> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        agents_by_ids(&mut conn, &[id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("agent", id))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn agents(&self, bu: BusinessUnitId, page: PageRequest) -> StoreResult<Page<Agent>> {
        let (limit, offset) = page_args(page);
        let sql = format!(
            "SELECT {AGENT_COLS} FROM agents WHERE business_unit_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(bu.as_uuid())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE business_unit_id = $1")
                .bind(bu.as_uuid())
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(Page {
            items: rows.iter().map(decode_agent).collect::<StoreResult<_>>()?,
            total: total(count),
            offset: page.offset,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn roster(
        &self,
        bu: BusinessUnitId,
    ) -> StoreResult<Vec<rota_core::directory::RosterEntry>> {
        let doc: Option<String> = sqlx::query_scalar(concatcp!(
            "SELECT ",
            ROSTER_JSON,
            " FROM (SELECT * FROM agents WHERE business_unit_id = $1 ORDER BY name, id) AS agents"
        ))
        .bind(bu.as_uuid())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let mut roster = rows::roster_from_json(doc.as_deref().unwrap_or("[]"))?;
        roster.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(roster)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_availability(
        &self,
        id: AgentId,
        availability: &Availability,
    ) -> StoreResult<Agent> {
        let mut w = self.begin_write().await?;
        // Stamped with the next agent revision, so write caches re-read this agent.
        let revision: i64 = sqlx::query_scalar(
            "UPDATE agent_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_error)?;
        let done = sqlx::query("UPDATE agents SET availability = $1, revision = $2 WHERE id = $3")
            .bind(rows::availability_json(availability))
            .bind(revision)
            .bind(id.as_uuid())
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("agent", id));
        }
        let agent = agents_by_ids(&mut w.tx, &[id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("agent", id))?;
        emit(
            &mut w,
            agent.business_unit_id,
            jiff::Timestamp::now(),
            |w| {
                w.one(EventType::AgentAvailabilityUpdated, || {
                    rota_api::events::availability_updated(&agent)
                })
            },
        )
        .await?;
        w.commit().await?;
        Ok(agent)
    }
}
