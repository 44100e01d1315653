//! Portal users, their one-time sign-in links, their sessions, and what each last saw.

use const_format::concatcp;
use rota_core::auth::{Lockout, Role, Session, User};
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, UserId};
use rota_core::store::{SignInFailures, StoreError, StoreResult};
use rota_core::version::ScheduleVersion;
use sqlx::Row;
use uuid::Uuid;

use super::DbRow;
use super::dialect::Backend;
use crate::rows::{self, db_error, micros};

const USER_COLUMNS: &str =
    "u.id, u.username, u.display_name, u.role, u.business_unit_id, u.agent_id, u.password_hash";

/// Columns: [`USER_COLUMNS`] first.
fn decode_user(r: &DbRow) -> StoreResult<User> {
    let role: String = r.try_get(3).map_err(db_error)?;
    Ok(User {
        id: UserId::from_uuid(r.try_get(0).map_err(db_error)?),
        username: r.try_get(1).map_err(db_error)?,
        display_name: r.try_get(2).map_err(db_error)?,
        role: Role::parse(&role).ok_or_else(|| rows::corrupt(format!("role {role}")))?,
        business_unit: r
            .try_get::<Option<Uuid>, _>(4)
            .map_err(db_error)?
            .map(BusinessUnitId::from_uuid),
        agent: r
            .try_get::<Option<Uuid>, _>(5)
            .map_err(db_error)?
            .map(AgentId::from_uuid),
        password_hash: r.try_get(6).map_err(db_error)?,
    })
}

fn failures(r: &DbRow) -> StoreResult<SignInFailures> {
    let n: i64 = r.try_get(0).map_err(db_error)?;
    Ok(SignInFailures {
        failures: u32::try_from(n).unwrap_or(u32::MAX),
        locked_until: r
            .try_get::<Option<i64>, _>(1)
            .map_err(db_error)?
            .map(rows::instant)
            .transpose()?,
    })
}

impl rota_core::store::UserStore for Backend {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, username, display_name, role, business_unit_id, agent_id, password_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id.as_uuid())
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(user.role.as_str())
        .bind(user.business_unit.map(|b| b.as_uuid()))
        .bind(user.agent.map(|a| a.as_uuid()))
        .bind(&user.password_hash)
        .execute(&self.pool)
        .await
        .map_err(|e| match db_error(e) {
            StoreError::AlreadyExists(_) => {
                StoreError::AlreadyExists(format!("user {}", user.username))
            }
            other => other,
        })?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn user(&self, id: UserId) -> StoreResult<User> {
        let row = sqlx::query(concatcp!(
            "SELECT ",
            USER_COLUMNS,
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref()
            .map(decode_user)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("user", id))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concatcp!(
            "SELECT ",
            USER_COLUMNS,
            " FROM users u WHERE u.username = $1"
        ))
        .bind(username.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(decode_user).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, failures = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(password_hash)
        .execute(&mut *w.tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", id));
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.as_uuid())
            .execute(&mut *w.tx)
            .await
            .map_err(db_error)?;
        w.commit().await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn sign_in_failures(&self, id: UserId) -> StoreResult<SignInFailures> {
        let row = sqlx::query("SELECT failures, locked_until FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::not_found("user", id))?;
        failures(&row)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn record_sign_in_failure(
        &self,
        id: UserId,
        now: jiff::Timestamp,
    ) -> StoreResult<SignInFailures> {
        let mut w = self.begin_write().await?;
        let n: i64 = sqlx::query_scalar(
            "UPDATE users SET failures = failures + 1 WHERE id = $1 RETURNING failures",
        )
        .bind(id.as_uuid())
        .fetch_optional(&mut *w.tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| StoreError::not_found("user", id))?;
        let count = u32::try_from(n).unwrap_or(u32::MAX);
        let locked_until = Lockout::after(count).and_then(|d| now.checked_add(d).ok());
        if let Some(until) = locked_until {
            sqlx::query("UPDATE users SET locked_until = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(micros(until))
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
        }
        w.commit().await?;
        Ok(SignInFailures {
            failures: count,
            locked_until,
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn clear_sign_in_failures(&self, id: UserId) -> StoreResult<()> {
        sqlx::query("UPDATE users SET failures = 0, locked_until = NULL WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_sign_in_link(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: jiff::Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sign_in_links (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user.as_uuid())
        .bind(micros(expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn redeem_sign_in_link(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<Option<User>> {
        // The delete is the claim: of two browsers presenting one link, one deletes the row.
        let user: Option<Uuid> = sqlx::query_scalar(
            "DELETE FROM sign_in_links WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(token_hash)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match user {
            Some(id) => Ok(Some(self.user(UserId::from_uuid(id)).await?)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_session(
        &self,
        session_hash: &str,
        user: UserId,
        csrf_token: &str,
        expires_at: jiff::Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (session_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(session_hash)
        .bind(user.as_uuid())
        .bind(csrf_token)
        .bind(micros(expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// One query per portal request: the session and its user together.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn session(
        &self,
        session_hash: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<Option<Session>> {
        let row = sqlx::query(concatcp!(
            "SELECT ",
            USER_COLUMNS,
            ", s.csrf_token, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.session_hash = $1 AND s.expires_at > $2"
        ))
        .bind(session_hash)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Session {
            user: decode_user(&row)?,
            csrf_token: row.try_get(7).map_err(db_error)?,
            expires_at: rows::instant(row.try_get(8).map_err(db_error)?)?,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn end_session(&self, session_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_sessions(&self, now: jiff::Timestamp) -> StoreResult<u64> {
        let mut n = 0;
        for statement in [
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM sign_in_links WHERE expires_at <= $1",
        ] {
            n += sqlx::query(statement)
                .bind(micros(now))
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
        }
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn seen_version(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> StoreResult<Option<ScheduleVersion>> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM seen_versions WHERE user_id = $1 AND schedule_id = $2",
        )
        .bind(user.as_uuid())
        .bind(schedule.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        v.map(rows::version).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn mark_seen(
        &self,
        user: UserId,
        schedule: ScheduleId,
        version: ScheduleVersion,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO seen_versions (user_id, schedule_id, version) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, schedule_id) DO UPDATE SET version = excluded.version \
             WHERE seen_versions.version < excluded.version",
        )
        .bind(user.as_uuid())
        .bind(schedule.as_uuid())
        .bind(rows::version_i64(version))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
