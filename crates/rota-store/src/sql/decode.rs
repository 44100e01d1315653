//! This driver's rows as domain values, and reads of shifts and agents by id.

use const_format::concatcp;
use rota_core::directory::{Agent, BusinessUnit, Zone};
use rota_core::ids::{AgentId, ShiftId};
use rota_core::schedule::{Schedule, Shift};
use rota_core::store::{PageRequest, StoreResult};
use rota_core::version::VersionRecord;
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::dialect::{AGENT_JSON, Db, SHIFT_JSON};
use super::{CHUNK, Conn, DbRow};
use crate::rows::{self, db_error};

pub(super) const SHIFT_COLS: &str = "id, schedule_id, owner_agent_id, start_at, end_at, required_skill, activity_code, \
     (SELECT activities FROM shift_activities WHERE shift_id = shifts.id), version";
/// The columns of a new shift's row (its activities go to `shift_activities`).
pub(super) const SHIFT_INSERT_COLS: &str =
    "id, schedule_id, owner_agent_id, start_at, end_at, required_skill, activity_code, version";
pub(super) const AGENT_COLS: &str = "id, business_unit_id, management_unit_id, name, skills, \
                          max_paid_minutes_per_week, min_rest_minutes, availability, time_off";

pub(super) fn page_args(page: PageRequest) -> (i64, i64) {
    (
        i64::from(page.limit),
        i64::try_from(page.offset).unwrap_or(i64::MAX),
    )
}

pub(super) fn total(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn decode_shift(r: &DbRow) -> StoreResult<Shift> {
    rows::shift(
        r.try_get(0).map_err(db_error)?,
        r.try_get(1).map_err(db_error)?,
        r.try_get(2).map_err(db_error)?,
        r.try_get(3).map_err(db_error)?,
        r.try_get(4).map_err(db_error)?,
        r.try_get(5).map_err(db_error)?,
        r.try_get(6).map_err(db_error)?,
        &r.try_get::<String, _>(7).map_err(db_error)?,
        r.try_get(8).map_err(db_error)?,
    )
}

pub(super) fn decode_agent(r: &DbRow) -> StoreResult<Agent> {
    rows::agent(
        r.try_get(0).map_err(db_error)?,
        r.try_get(1).map_err(db_error)?,
        r.try_get(2).map_err(db_error)?,
        r.try_get(3).map_err(db_error)?,
        r.try_get::<&str, _>(4).map_err(db_error)?,
        r.try_get(5).map_err(db_error)?,
        r.try_get(6).map_err(db_error)?,
        r.try_get::<&str, _>(7).map_err(db_error)?,
        r.try_get::<&str, _>(8).map_err(db_error)?,
    )
}

pub(super) fn decode_business_unit(r: &DbRow) -> StoreResult<BusinessUnit> {
    rows::business_unit(
        r.try_get(0).map_err(db_error)?,
        r.try_get(1).map_err(db_error)?,
        r.try_get::<&str, _>(2).map_err(db_error)?,
        r.try_get::<&str, _>(3).map_err(db_error)?,
    )
}

pub(super) fn decode_schedule(r: &DbRow) -> StoreResult<Schedule> {
    rows::schedule(
        r.try_get(0).map_err(db_error)?,
        r.try_get(1).map_err(db_error)?,
        r.try_get::<&str, _>(2).map_err(db_error)?,
        r.try_get::<&str, _>(3).map_err(db_error)?,
        r.try_get(4).map_err(db_error)?,
    )
}

pub(super) fn decode_version(r: &DbRow) -> StoreResult<VersionRecord> {
    rows::version_record(
        r.try_get(0).map_err(db_error)?,
        r.try_get(1).map_err(db_error)?,
        r.try_get::<&str, _>(2).map_err(db_error)?,
        r.try_get(3).map_err(db_error)?,
        r.try_get(4).map_err(db_error)?,
        r.try_get(5).map_err(db_error)?,
        r.try_get(6).map_err(db_error)?,
    )
}

pub(super) fn decode_schedule_zone(row: &DbRow) -> StoreResult<(Schedule, Zone)> {
    let zone = Zone::parse(row.try_get::<&str, _>(5).map_err(db_error)?).map_err(rows::corrupt)?;
    Ok((decode_schedule(row)?, zone))
}

/// Appends ` IN ($n, …)` for `ids`.
pub(super) fn push_in_list(q: &mut QueryBuilder<Db>, ids: impl IntoIterator<Item = Uuid>) {
    q.push(" IN (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    q.push(")");
}

pub(super) async fn fetch_json(q: &mut QueryBuilder<Db>, conn: &mut Conn) -> StoreResult<String> {
    let doc: Option<String> = q
        .build_query_scalar()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(doc.unwrap_or_else(|| "[]".to_owned()))
}

pub(super) async fn shifts_by_ids(conn: &mut Conn, ids: &[ShiftId]) -> StoreResult<Vec<Shift>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<Db>::new(concatcp!("SELECT ", SHIFT_JSON, " FROM shifts WHERE id"));
        push_in_list(&mut q, chunk.iter().map(ShiftId::as_uuid));
        out.extend(rows::shifts_from_json(&fetch_json(&mut q, conn).await?)?);
    }
    Ok(out)
}

pub(super) async fn agents_by_ids(conn: &mut Conn, ids: &[AgentId]) -> StoreResult<Vec<Agent>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<Db>::new(concatcp!("SELECT ", AGENT_JSON, " FROM agents WHERE id"));
        push_in_list(&mut q, chunk.iter().map(AgentId::as_uuid));
        out.extend(rows::agents_from_json(&fetch_json(&mut q, conn).await?)?);
    }
    Ok(out)
}

/// A page of the JSON documents of a table stored as `doc` beside the columns queries filter on
/// (trades, held changes): `filter` writes its conditions after `FROM <table> WHERE 1 = 1`, the
/// page comes in `order`, and the total counts every match.
pub(super) async fn doc_page<T: serde::de::DeserializeOwned>(
    pool: &sqlx::Pool<Db>,
    table: &str,
    filter: impl Fn(&mut QueryBuilder<Db>),
    order: &str,
    page: PageRequest,
) -> StoreResult<rota_core::store::Page<T>> {
    let build = |select: &str| {
        let mut q = QueryBuilder::<Db>::new(select);
        q.push(" FROM ").push(table).push(" WHERE 1 = 1");
        filter(&mut q);
        q
    };
    let (limit, offset) = page_args(page);
    let mut q = build("SELECT doc");
    q.push(" ORDER BY ")
        .push(order)
        .push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let docs: Vec<String> = q
        .build_query_scalar()
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    let count: i64 = build("SELECT COUNT(*)")
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    Ok(rota_core::store::Page {
        items: docs
            .iter()
            .map(|d| serde_json::from_str(d).map_err(rows::corrupt))
            .collect::<StoreResult<_>>()?,
        total: total(count),
        offset: page.offset,
    })
}
