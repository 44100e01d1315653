//! The SQL of both backends, written once. SQLite and PostgreSQL accept the same statements
//! here (`$n` parameters, `WITH … UPDATE … FROM`), so one macro instantiates the same functions
//! for each driver. Each backend passes in what differs: how a write transaction takes its
//! lock, whether several statements go in one round trip, its JSON aggregation and its date
//! arithmetic (see the macro's parameters).

/// Implements rota-core's store traits for `$store` on the sqlx driver `$db`.
/// `multi_statement`: the driver runs several statements with parameters in one query (SQLite
/// does; PostgreSQL's extended protocol takes one statement per query). `lock` is
/// appended to the statement that reads the schedule row inside a write transaction
/// (PostgreSQL's `FOR UPDATE`; SQLite already holds the database write lock). `weeks` are the
/// week starts (text, `YYYY-MM-DD`) 14 days before and after schedule `s`'s. `shift_json` and
/// `agent_json` aggregate shift and agent columns (in the order of `SHIFT_COLS` and
/// `AGENT_COLS`) into one JSON array text, in the backend's own JSON functions.
macro_rules! store_impl {
    (
        $store:ty, $db:ty, $tx:ty,
        multi_statement: $multi:literal,
        lock: $lock:literal,
        weeks: ($weeks_before:literal, $weeks_after:literal),
        shift_json: $shift_json:literal,
        agent_json: $agent_json:literal
    ) => {
        use std::collections::HashMap;

        use jiff::civil::Date;
        use rota_core::command::{CommandError, EditChange, ShiftEdit, SwapRequest, SwapResult, Violation, ViolationCode};
        use rota_core::directory::{Agent, Availability, BusinessUnit, ManagementUnit, Zone};
        use rota_core::engine::{self, Commit, NEIGHBOURHOOD_MINUTES, Plan, Snapshot};
        use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId};
        use rota_core::replay::replay;
        use rota_core::schedule::{NewSchedule, Schedule, ScheduleState, Shift, TimeWindow};
        use rota_core::store::{
            DirectoryStore, Page, PageRequest, ScheduleStore, ShiftFilter, StoreError, StoreResult,
        };
        use rota_core::version::{CommitContext, ScheduleVersion, ShiftChange, VersionCause, VersionChanges, VersionRecord};
        use rota_core::webhook::{EventType, NewEvent, Wanted};
        use sqlx::{QueryBuilder, Row};
        use uuid::Uuid;

        use crate::rows::{self, db_error, micros, version_i64};

        type Conn = <$db as sqlx::Database>::Connection;
        type Tx = crate::cache::WriteTx<$tx>;
        use crate::cache::Refresh;
        type DbRow = <$db as sqlx::Database>::Row;

        /// Rows per multi-row statement: well under both drivers' bind-parameter limits.
        const CHUNK: usize = 500;

        /// Rows per `UPDATE shifts … FROM v`. Without table statistics SQLite's planner guesses
        /// the shift table's size; from about 250 rows in `v` on it chose to scan the whole
        /// shift table and probe `v` for each row (SQLite 3.51, checked with `EXPLAIN QUERY
        /// PLAN`), so a large request's cost grew with the schedule. At 100 it seeks each shift
        /// by its key.
        const UPDATE_CHUNK: usize = 100;

        /// Statements that run one after another as one unit of work. Where the driver takes
        /// several statements in one query they go to the database in one round trip (on
        /// SQLite each round trip is a hand-over to the connection's own thread and back, which
        /// cost more than most of a command's statements themselves); otherwise one by one.
        /// Parameters must be bound with `push_bind`, never written as `$n`: numbered
        /// parameters would count from the first statement of the batch.
        struct Batch {
            parts: Vec<QueryBuilder<$db>>,
            /// Per statement, in order: the rows it must affect, and the error if it does not.
            checks: Vec<Option<(u64, fn() -> StoreError)>>,
        }

        /// What one statement of a batch returned.
        struct Done {
            rows: Vec<DbRow>,
        }

        impl Batch {
            fn new() -> Self {
                Self { parts: Vec::new(), checks: Vec::new() }
            }

            /// Starts the next statement with `sql`; binds and more SQL go to what it returns.
            fn push(&mut self, sql: &str) -> &mut QueryBuilder<$db> {
                self.push_checked(sql, None)
            }

            /// Starts a statement that fails the batch with `check.1()` unless it affects
            /// exactly `check.0` rows.
            fn push_checked(&mut self, sql: &str, check: Option<(u64, fn() -> StoreError)>) -> &mut QueryBuilder<$db> {
                self.checks.push(check);
                match self.parts.last_mut() {
                    Some(last) if $multi => {
                        last.push("; ");
                        last.push(sql);
                    }
                    _ => self.parts.push(QueryBuilder::new(sql)),
                }
                self.parts.last_mut().expect("a statement was just pushed")
            }

            /// Runs the statements in order, stopping at the first that fails or misses its
            /// check; answers what each returned. An empty batch goes nowhere near the database.
            async fn run(mut self, conn: &mut Conn) -> StoreResult<Vec<Done>> {
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
                                out.push(Done { rows: std::mem::take(&mut rows) });
                            }
                        }
                    }
                }
                if out.len() != self.checks.len() {
                    return Err(StoreError::Backend(
                        format!("a batch of {} statements answered for {}", self.checks.len(), out.len()).into(),
                    ));
                }
                Ok(out)
            }
        }

        const SHIFT_COLS: &str =
            "id, schedule_id, owner_agent_id, start_at, end_at, required_skill, activity_code, version";
        const AGENT_COLS: &str = "id, business_unit_id, management_unit_id, name, skills, \
                                  max_paid_minutes_per_week, min_rest_minutes, availability";

        fn page_args(page: PageRequest) -> (i64, i64) {
            (
                i64::from(page.limit),
                i64::try_from(page.offset).unwrap_or(i64::MAX),
            )
        }

        fn total(n: i64) -> u64 {
            u64::try_from(n).unwrap_or(0)
        }

        fn decode_shift(r: &DbRow) -> StoreResult<Shift> {
            rows::shift(
                r.try_get(0).map_err(db_error)?,
                r.try_get(1).map_err(db_error)?,
                r.try_get(2).map_err(db_error)?,
                r.try_get(3).map_err(db_error)?,
                r.try_get(4).map_err(db_error)?,
                r.try_get(5).map_err(db_error)?,
                r.try_get(6).map_err(db_error)?,
                r.try_get(7).map_err(db_error)?,
            )
        }

        fn decode_agent(r: &DbRow) -> StoreResult<Agent> {
            rows::agent(
                r.try_get(0).map_err(db_error)?,
                r.try_get(1).map_err(db_error)?,
                r.try_get(2).map_err(db_error)?,
                r.try_get(3).map_err(db_error)?,
                r.try_get::<&str, _>(4).map_err(db_error)?,
                r.try_get(5).map_err(db_error)?,
                r.try_get(6).map_err(db_error)?,
                r.try_get::<&str, _>(7).map_err(db_error)?,
            )
        }

        fn decode_business_unit(r: &DbRow) -> StoreResult<BusinessUnit> {
            rows::business_unit(
                r.try_get(0).map_err(db_error)?,
                r.try_get(1).map_err(db_error)?,
                r.try_get::<&str, _>(2).map_err(db_error)?,
                r.try_get::<&str, _>(3).map_err(db_error)?,
            )
        }

        fn decode_schedule(r: &DbRow) -> StoreResult<Schedule> {
            rows::schedule(
                r.try_get(0).map_err(db_error)?,
                r.try_get(1).map_err(db_error)?,
                r.try_get::<&str, _>(2).map_err(db_error)?,
                r.try_get::<&str, _>(3).map_err(db_error)?,
                r.try_get(4).map_err(db_error)?,
            )
        }

        /// Columns: client_id, secret_hash, role, business_unit_id, agent_id.
        fn decode_client(r: &DbRow) -> StoreResult<rota_core::auth::ApiClient> {
            let role: String = r.try_get(2).map_err(db_error)?;
            Ok(rota_core::auth::ApiClient {
                client_id: r.try_get(0).map_err(db_error)?,
                secret_hash: r.try_get(1).map_err(db_error)?,
                role: rota_core::auth::Role::parse(&role).ok_or_else(|| rows::corrupt(format!("role {role}")))?,
                business_unit: r.try_get::<Option<Uuid>, _>(3).map_err(db_error)?.map(BusinessUnitId::from_uuid),
                agent: r.try_get::<Option<Uuid>, _>(4).map_err(db_error)?.map(AgentId::from_uuid),
            })
        }

        fn decode_version(r: &DbRow) -> StoreResult<VersionRecord> {
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

        /// The schedule and its business unit's zone; locked for the transaction when `lock`.
        async fn load_schedule(conn: &mut Conn, id: ScheduleId, lock: bool) -> StoreResult<Option<(Schedule, Zone)>> {
            let mut batch = Batch::new();
            push_schedule(&mut batch, id, lock);
            let done = batch.run(conn).await?;
            done[0].rows.first().map(decode_schedule_zone).transpose()
        }

        /// The statement that reads schedule `id` with its business unit's zone (see
        /// [`decode_schedule_zone`]), locking it for the transaction when `lock`.
        fn push_schedule(batch: &mut Batch, id: ScheduleId, lock: bool) {
            batch
                .push(
                    "SELECT s.id, s.business_unit_id, s.week_start, s.state, s.version, b.time_zone \
                     FROM schedules s JOIN business_units b ON b.id = s.business_unit_id WHERE s.id = ",
                )
                .push_bind(id.as_uuid())
                .push(if lock { $lock } else { "" });
        }

        fn decode_schedule_zone(row: &DbRow) -> StoreResult<(Schedule, Zone)> {
            let zone = Zone::parse(row.try_get::<&str, _>(5).map_err(db_error)?).map_err(rows::corrupt)?;
            Ok((decode_schedule(row)?, zone))
        }

        /// Appends ` IN ($n, …)` for `ids`.
        fn push_in_list(q: &mut QueryBuilder<$db>, ids: impl IntoIterator<Item = Uuid>) {
            q.push(" IN (");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(id);
            }
            q.push(")");
        }

        async fn fetch_json(q: &mut QueryBuilder<$db>, conn: &mut Conn) -> StoreResult<String> {
            let doc: Option<String> = q.build_query_scalar().fetch_one(&mut *conn).await.map_err(db_error)?;
            Ok(doc.unwrap_or_else(|| "[]".to_owned()))
        }

        async fn shifts_by_ids(conn: &mut Conn, ids: &[ShiftId]) -> StoreResult<Vec<Shift>> {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                let mut q = QueryBuilder::<$db>::new(concat!("SELECT ", $shift_json, " FROM shifts WHERE id"));
                push_in_list(&mut q, chunk.iter().map(ShiftId::as_uuid));
                out.extend(rows::shifts_from_json(&fetch_json(&mut q, conn).await?)?);
            }
            Ok(out)
        }

        async fn agents_by_ids(conn: &mut Conn, ids: &[AgentId]) -> StoreResult<Vec<Agent>> {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                let mut q = QueryBuilder::<$db>::new(concat!("SELECT ", $agent_json, " FROM agents WHERE id"));
                push_in_list(&mut q, chunk.iter().map(AgentId::as_uuid));
                out.extend(rows::agents_from_json(&fetch_json(&mut q, conn).await?)?);
            }
            Ok(out)
        }

        /// Which event types the subscriptions of the business unit that follows want.
        const WANTED: &str = "SELECT DISTINCT e.event_type FROM webhook_subscriptions s \
                              JOIN webhook_subscription_events e ON e.subscription_id = s.id WHERE s.business_unit_id = ";

        /// The statement that reads which event types business unit `bu`'s subscriptions want.
        fn push_wanted(batch: &mut Batch, bu: BusinessUnitId) {
            batch.push(WANTED).push_bind(bu.as_uuid());
        }

        fn decode_wanted(done: &Done) -> StoreResult<Wanted> {
            let mut types = Vec::with_capacity(done.rows.len());
            for row in &done.rows {
                if let Some(t) = EventType::parse(row.try_get::<&str, _>(0).map_err(db_error)?) {
                    types.push(t);
                }
            }
            Ok(Wanted::new(types))
        }

        /// What business unit `bu`'s subscriptions want: read with the transaction's snapshot
        /// when that was for `bu`, else now.
        async fn wanted_of(w: &mut Tx, bu: BusinessUnitId) -> StoreResult<Wanted> {
            if let Some((read_for, wanted)) = w.wanted.take()
                && read_for == bu
            {
                return Ok(wanted);
            }
            let mut batch = Batch::new();
            push_wanted(&mut batch, bu);
            decode_wanted(&batch.run(&mut w.tx).await?[0])
        }

        /// Brings the neighbourhood's schedules up to date in the cache, given their ids and
        /// versions as read under the write lock (`schedule` itself among them).
        async fn fresh_neighbourhood(w: &mut Tx, schedule: &Schedule, done: &Done) -> StoreResult<Vec<ScheduleId>> {
            let mut ids = Vec::with_capacity(done.rows.len());
            for row in &done.rows {
                let id = ScheduleId::from_uuid(row.try_get(0).map_err(db_error)?);
                // The locked schedule's own version, as read under the lock.
                let version = if id == schedule.id {
                    schedule.version
                } else {
                    rows::version(row.try_get(1).map_err(db_error)?)?
                };
                match w.cache.schedule_refresh(id, version) {
                    Refresh::Current => {}
                    Refresh::Whole => {
                        let mut q = QueryBuilder::<$db>::new(concat!("SELECT ", $shift_json, " FROM shifts WHERE schedule_id = "));
                        q.push_bind(id.as_uuid());
                        let shifts = rows::shifts_from_json(&fetch_json(&mut q, &mut w.tx).await?)?;
                        w.cache.put_schedule(id, version, shifts);
                    }
                    Refresh::Since(cached) => {
                        let changed: Vec<Uuid> = sqlx::query_scalar(
                            "SELECT DISTINCT shift_id FROM shift_changes WHERE schedule_id = $1 AND version > $2",
                        )
                        .bind(id.as_uuid())
                        .bind(version_i64(cached))
                        .fetch_all(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                        let changed: Vec<ShiftId> = changed.into_iter().map(ShiftId::from_uuid).collect();
                        let shifts = shifts_by_ids(&mut w.tx, &changed).await?;
                        w.cache.refresh_schedule(id, cached, version, shifts);
                    }
                }
                ids.push(id);
            }
            Ok(ids)
        }

        /// `ids` as agents, current at agent revision `revision` (read under the write lock):
        /// re-reads the agents written since the cache last looked, then whatever it has not
        /// seen.
        async fn fresh_agents(w: &mut Tx, revision: i64, ids: &[AgentId]) -> StoreResult<Vec<Agent>> {
            let cached = w.cache.agents_revision();
            if cached != Some(revision) {
                let changed = match cached {
                    Some(cached) if cached < revision => {
                        let q = concat!("SELECT ", $agent_json, " FROM agents WHERE revision > $1");
                        let doc: Option<String> =
                            sqlx::query_scalar(q).bind(cached).fetch_one(&mut *w.tx).await.map_err(db_error)?;
                        rows::agents_from_json(doc.as_deref().unwrap_or("[]"))?
                    }
                    _ => Vec::new(),
                };
                w.cache.refresh_agents(cached.filter(|c| *c < revision), revision, changed);
            }
            let missing = w.cache.missing_agents(ids);
            if !missing.is_empty() {
                w.cache.put_agents(agents_by_ids(&mut w.tx, &missing).await?);
            }
            Ok(w.cache.agents(ids))
        }

        /// What the engine needs for a command on schedule `id`, from the cache validated under
        /// the write lock: the schedule (locked), the shifts of `touched` (read from the
        /// database when outside the schedule, so the engine can name them), the agents
        /// `agents_of` them names, and those agents' shifts near the week. The schedule row,
        /// what the cache is validated by (the neighbourhood's versions, the agent revision),
        /// the trade holds on `touched` and the event types the business unit's subscriptions
        /// want are read in one batch; the wanted types stay with `w` for the commit's events.
        async fn snapshot(
            w: &mut Tx,
            id: ScheduleId,
            touched: &[ShiftId],
            agents_of: impl FnOnce(&[Shift]) -> Vec<AgentId>,
        ) -> StoreResult<Snapshot> {
            let mut batch = Batch::new();
            push_schedule(&mut batch, id, true);
            // Shifts start within their week and last at most a day: only schedules of weeks
            // starting within 14 days of this one can hold shifts near it.
            batch
                .push(concat!(
                    "SELECT n.id, n.version FROM schedules s JOIN schedules n ON n.business_unit_id = s.business_unit_id \
                     AND n.week_start > ", $weeks_before, " AND n.week_start < ", $weeks_after, " WHERE s.id = "
                ))
                .push_bind(id.as_uuid());
            batch.push("SELECT revision FROM agent_revision WHERE id = 1");
            batch
                .push(WANTED)
                .push("(SELECT business_unit_id FROM schedules WHERE id = ")
                .push_bind(id.as_uuid())
                .push(")");
            push_holds(&mut batch, touched);
            let done = batch.run(&mut w.tx).await?;
            let (schedule, zone) =
                decode_schedule_zone(done[0].rows.first().ok_or(CommandError::ScheduleNotFound(id))?)?;
            let revision: i64 = done[2]
                .rows
                .first()
                .ok_or_else(|| rows::corrupt("the agent revision row is missing"))?
                .try_get(0)
                .map_err(db_error)?;
            w.wanted = Some((schedule.business_unit_id, decode_wanted(&done[3])?));
            let held = decode_holds(&done[4..])?;
            let neighbourhood = fresh_neighbourhood(w, &schedule, &done[1]).await?;
            let (mut found, missing) = w.cache.touched(schedule.id, touched);
            if !missing.is_empty() {
                found.extend(shifts_by_ids(&mut w.tx, &missing).await?);
            }
            let mut agents = agents_of(&found);
            agents.sort_unstable();
            agents.dedup();
            let agents = fresh_agents(w, revision, &agents).await?;
            let (week_from, week_to) = schedule.week_window(&zone);
            let margin = jiff::SignedDuration::from_mins(NEIGHBOURHOOD_MINUTES);
            let window = (
                week_from.checked_sub(margin).map_err(rows::corrupt)?,
                week_to.checked_add(margin).map_err(rows::corrupt)?,
            );
            let ids: Vec<AgentId> = agents.iter().map(|a| a.id).collect();
            let nearby = w.cache.nearby(&neighbourhood, &ids, window);
            let shifts = found.into_iter().chain(nearby).map(|s| (s.id, s)).collect();
            Ok(Snapshot {
                schedule,
                zone,
                shifts,
                agents: agents.into_iter().map(|a| (a.id, a)).collect(),
                held,
            })
        }

        /// The trades holding any of `shifts`.
        async fn holds_of(conn: &mut Conn, shifts: &[ShiftId]) -> StoreResult<HashMap<ShiftId, rota_core::ids::TradeId>> {
            let mut batch = Batch::new();
            push_holds(&mut batch, shifts);
            decode_holds(&batch.run(conn).await?)
        }

        /// The statements that read the trade holds on `shifts` (see [`decode_holds`]).
        fn push_holds(batch: &mut Batch, shifts: &[ShiftId]) {
            for chunk in shifts.chunks(CHUNK) {
                let q = batch.push("SELECT shift_id, trade_id FROM trade_holds WHERE shift_id");
                push_in_list(q, chunk.iter().map(ShiftId::as_uuid));
            }
        }

        fn decode_holds(done: &[Done]) -> StoreResult<HashMap<ShiftId, rota_core::ids::TradeId>> {
            let mut held = HashMap::new();
            for row in done.iter().flat_map(|d| &d.rows) {
                held.insert(
                    ShiftId::from_uuid(row.try_get(0).map_err(db_error)?),
                    rota_core::ids::TradeId::from_uuid(row.try_get(1).map_err(db_error)?),
                );
            }
            Ok(held)
        }

        /// Adds to `batch` the statements that write the events `build` makes for the types in
        /// `wanted` (what business unit `bu`'s subscriptions want) to the outbox, with a
        /// delivery for every subscription that wants each: an event exists if and only if
        /// the transaction that wrote it commits. Events nobody subscribed to are neither built
        /// nor kept (the version history already records every change), so a subscription
        /// receives the changes that commit after it.
        fn push_events(
            batch: &mut Batch,
            wanted: &Wanted,
            bu: BusinessUnitId,
            now: jiff::Timestamp,
            build: impl FnOnce(&Wanted) -> Vec<NewEvent>,
        ) {
            if wanted.is_empty() {
                return;
            }
            let events = build(wanted);
            let events: Vec<&NewEvent> = events
                .iter()
                .filter(|e| e.business_unit_id == bu && wanted.wants(e.event_type))
                .collect();
            for chunk in events.chunks(CHUNK) {
                batch
                    .push("INSERT INTO outbox_events (event_id, event_type, business_unit_id, ordering_key, data, created_at) ")
                    .push_values(chunk, |mut row, e| {
                        row.push_bind(e.id.as_uuid())
                            .push_bind(e.event_type.as_str())
                            .push_bind(e.business_unit_id.as_uuid())
                            .push_bind(e.ordering_key.clone())
                            .push_bind(e.data.to_string())
                            .push_bind(micros(now));
                    });
                let q = batch.push(
                    "INSERT INTO webhook_deliveries (subscription_id, event_seq, ordering_key, state, attempts, next_attempt_at) \
                     SELECT s.id, o.seq, o.ordering_key, 'pending', 0, o.created_at FROM outbox_events o \
                     JOIN webhook_subscription_events e ON e.event_type = o.event_type \
                     JOIN webhook_subscriptions s ON s.id = e.subscription_id AND s.business_unit_id = o.business_unit_id \
                     WHERE o.event_id",
                );
                push_in_list(q, chunk.iter().map(|e| e.id.as_uuid()));
                q.push(" ORDER BY o.seq");
            }
        }

        /// Writes the events `build` makes to the outbox now (see [`push_events`]).
        async fn emit(
            w: &mut Tx,
            bu: BusinessUnitId,
            now: jiff::Timestamp,
            build: impl FnOnce(&Wanted) -> Vec<NewEvent>,
        ) -> StoreResult<()> {
            let wanted = wanted_of(w, bu).await?;
            let mut batch = Batch::new();
            push_events(&mut batch, &wanted, bu, now, build);
            batch.run(&mut w.tx).await?;
            Ok(())
        }

        fn push_version(batch: &mut Batch, record: &VersionRecord) {
            batch
                .push(
                    "INSERT INTO schedule_versions \
                     (schedule_id, version, cause, actor, request_id, created_at, change_count) VALUES (",
                )
                .separated(", ")
                .push_bind(record.schedule_id.as_uuid())
                .push_bind(version_i64(record.version))
                .push_bind(record.cause.as_str())
                .push_bind(record.actor.clone())
                .push_bind(record.request_id.clone())
                .push_bind(micros(record.created_at))
                .push_bind(i64::from(record.change_count))
                .push_unseparated(")");
        }

        fn push_changes(batch: &mut Batch, record: &VersionRecord, changes: &[ShiftChange]) {
            for chunk in changes.chunks(CHUNK) {
                batch
                    .push(
                        "INSERT INTO shift_changes (schedule_id, version, shift_id, owner_before, start_before, \
                         end_before, owner_after, start_after, end_after) ",
                    )
                    .push_values(chunk, |mut row, c| {
                        row.push_bind(record.schedule_id.as_uuid())
                            .push_bind(version_i64(record.version))
                            .push_bind(c.shift_id.as_uuid())
                            .push_bind(c.before.and_then(|b| b.owner).map(|a| a.as_uuid()))
                            .push_bind(c.before.map(|b| micros(b.start)))
                            .push_bind(c.before.map(|b| micros(b.end)))
                            .push_bind(c.after.owner.map(|a| a.as_uuid()))
                            .push_bind(micros(c.after.start))
                            .push_bind(micros(c.after.end));
                    });
            }
        }

        /// Adds to `batch` what writes a version on top of `schedule` (read under the write
        /// lock): the version row, the changed shifts, the change log, and its events
        /// (`schedule.version.created` and what `also` adds) for the types in `wanted`.
        fn push_commit(
            batch: &mut Batch,
            wanted: &Wanted,
            schedule: &Schedule,
            commit: &Commit,
            also: impl FnOnce(&Wanted) -> Vec<NewEvent>,
        ) {
            // Only possible if the write lock was not held: refuse rather than fork history.
            let moved_under_lock = || StoreError::Busy("schedule version moved under the write lock".into());
            batch
                .push_checked("UPDATE schedules SET version = ", Some((1, moved_under_lock)))
                .push_bind(version_i64(commit.record.version))
                .push(" WHERE id = ")
                .push_bind(schedule.id.as_uuid())
                .push(" AND version = ")
                .push_bind(version_i64(schedule.version));
            push_version(batch, &commit.record);
            // Swaps change owners only. Assigning the times too would make the database rewrite
            // the time index entries of every swapped shift, unchanged as they are.
            let (moved, reassigned): (Vec<&ShiftChange>, Vec<&ShiftChange>) = commit
                .changes
                .iter()
                .partition(|c| c.before.is_none_or(|b| (b.start, b.end) != (c.after.start, c.after.end)));
            // Each shift is found by its whole key as the plan saw it (schedule, start before the
            // change, id): on SQLite that is the table's own order, one b-tree descent per shift
            // instead of one through the id index and another into the table, whose depth grows
            // with the schedule. The schedule id is a column of `v`, not a constant: given
            // `shifts.schedule_id = constant`, SQLite's planner scanned the schedule's shifts and
            // probed `v` for each. Each statement must change exactly its chunk's rows: a miss
            // would mean the plan was made against a state that is not the stored one.
            let missed = || StoreError::Corrupt("a changed shift was not found under its key".into());
            let start_before = |c: &ShiftChange| micros(c.before.map_or(c.after.start, |b| b.start));
            for (changes, moves) in [(&reassigned, false), (&moved, true)] {
                for chunk in changes.chunks(UPDATE_CHUNK) {
                    let (columns, set) = if moves {
                        ("WITH v (id, schedule_id, start_before, owner, start_at, end_at) AS (",
                         ") UPDATE shifts SET owner_agent_id = v.owner, start_at = v.start_at, end_at = v.end_at, version = ")
                    } else {
                        ("WITH v (id, schedule_id, start_before, owner) AS (",
                         ") UPDATE shifts SET owner_agent_id = v.owner, version = ")
                    };
                    let q = batch.push_checked(columns, Some((chunk.len() as u64, missed)));
                    q.push_values(chunk.iter(), |mut row, c| {
                        row.push_bind(c.shift_id.as_uuid())
                            .push_bind(schedule.id.as_uuid())
                            .push_bind(start_before(c))
                            .push_bind(c.after.owner.map(|a| a.as_uuid()));
                        if moves {
                            row.push_bind(micros(c.after.start)).push_bind(micros(c.after.end));
                        }
                    });
                    q.push(set);
                    q.push_bind(version_i64(commit.record.version));
                    q.push(" FROM v WHERE shifts.schedule_id = v.schedule_id AND shifts.start_at = v.start_before AND shifts.id = v.id");
                }
            }
            push_changes(batch, &commit.record, &commit.changes);
            push_events(batch, wanted, schedule.business_unit_id, commit.record.created_at, |w| {
                let mut events =
                    w.one(EventType::ScheduleVersionCreated, || rota_core::webhook::version_created(schedule, commit));
                events.extend(also(w));
                events
            });
        }

        /// Writes a version on top of `schedule` (see [`push_commit`]) in the caller's
        /// transaction.
        async fn write_commit(
            w: &mut Tx,
            schedule: &Schedule,
            commit: &Commit,
            also: impl FnOnce(&Wanted) -> Vec<NewEvent>,
        ) -> StoreResult<()> {
            let wanted = wanted_of(w, schedule.business_unit_id).await?;
            let mut batch = Batch::new();
            push_commit(&mut batch, &wanted, schedule, commit, also);
            batch.run(&mut w.tx).await?;
            w.wrote(schedule.version, commit.clone());
            Ok(())
        }

        /// For commits that emit nothing besides their version.
        fn no_events(_: &Wanted) -> Vec<NewEvent> {
            Vec::new()
        }

        /// Commits what a plan decided, if anything, and answers with the outcomes: the
        /// version, its events and the request's idempotency key go to the database together.
        async fn commit_plan(
            w: &mut Tx,
            schedule: &Schedule,
            plan: Plan,
            cause: VersionCause,
            ctx: &CommitContext,
            also: impl FnOnce(&Wanted) -> Vec<NewEvent>,
        ) -> StoreResult<SwapResult> {
            let commit = Commit::after(schedule, cause, ctx, plan.changes);
            let mut batch = Batch::new();
            if let Some(c) = &commit {
                let wanted = wanted_of(w, schedule.business_unit_id).await?;
                push_commit(&mut batch, &wanted, schedule, c, also);
            }
            let current = commit.as_ref().map_or(schedule.version, |c| c.record.version);
            let result = SwapResult {
                outcomes: plan.outcomes,
                committed: commit.as_ref().map(|c| c.record.clone()),
                current_version_id: rota_core::version::ScheduleVersionId::new(schedule.id, current),
            };
            push_key(&mut batch, ctx, &result)?;
            batch.run(&mut w.tx).await?;
            if let Some(c) = commit {
                w.wrote(schedule.version, c);
            }
            Ok(result)
        }

        /// Adds to `batch` the statement that records the request's idempotency key with the
        /// command's result, so the change and its key commit together or not at all. A key
        /// that is live (recorded, or claimed by a request still running) is not taken over:
        /// the batch fails with `KeyTaken` and the command's transaction rolls back.
        fn push_key<T: serde::Serialize>(batch: &mut Batch, ctx: &CommitContext, result: &T) -> StoreResult<()> {
            let Some(record) = &ctx.idempotency else { return Ok(()) };
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
        async fn record_result<T: serde::Serialize>(conn: &mut Conn, ctx: &CommitContext, result: &T) -> StoreResult<()> {
            let mut batch = Batch::new();
            push_key(&mut batch, ctx, result)?;
            batch.run(conn).await?;
            Ok(())
        }

        /// What a stored key means for a request with `request_hash` at `now`; `None` when the
        /// key is free (forgotten, or claimed by a request that died).
        fn key_state(
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

        async fn history(
            conn: &mut Conn,
            id: ScheduleId,
            after: i64,
            up_to: i64,
        ) -> StoreResult<Vec<VersionChanges>> {
            let records = sqlx::query(
                "SELECT schedule_id, version, cause, actor, request_id, created_at, change_count \
                 FROM schedule_versions WHERE schedule_id = $1 AND version > $2 AND version <= $3 ORDER BY version",
            )
            .bind(id.as_uuid())
            .bind(after)
            .bind(up_to)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
            let mut out: Vec<VersionChanges> = Vec::with_capacity(records.len());
            let mut index: HashMap<ScheduleVersion, usize> = HashMap::with_capacity(records.len());
            for row in &records {
                let record = decode_version(row)?;
                index.insert(record.version, out.len());
                out.push(VersionChanges {
                    record,
                    changes: Vec::new(),
                });
            }
            let changes = sqlx::query(
                "SELECT version, shift_id, owner_before, start_before, end_before, owner_after, start_after, end_after \
                 FROM shift_changes WHERE schedule_id = $1 AND version > $2 AND version <= $3 \
                 ORDER BY version, shift_id",
            )
            .bind(id.as_uuid())
            .bind(after)
            .bind(up_to)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
            for row in &changes {
                let version = rows::version(row.try_get(0).map_err(db_error)?)?;
                let start_before: Option<i64> = row.try_get(3).map_err(db_error)?;
                let before = match start_before {
                    Some(start) => Some(rows::shift_state(
                        row.try_get(2).map_err(db_error)?,
                        start,
                        row.try_get::<Option<i64>, _>(4).map_err(db_error)?.unwrap_or(start),
                    )?),
                    None => None,
                };
                let change = ShiftChange {
                    shift_id: ShiftId::from_uuid(row.try_get(1).map_err(db_error)?),
                    before,
                    after: rows::shift_state(
                        row.try_get(5).map_err(db_error)?,
                        row.try_get(6).map_err(db_error)?,
                        row.try_get(7).map_err(db_error)?,
                    )?,
                };
                let slot = index
                    .get(&version)
                    .ok_or_else(|| rows::corrupt(format!("change of missing version {version}")))?;
                out[*slot].changes.push(change);
            }
            Ok(out)
        }

        impl DirectoryStore for $store {
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

            async fn business_unit(&self, id: BusinessUnitId) -> StoreResult<BusinessUnit> {
                let row = sqlx::query("SELECT id, name, time_zone, first_day_of_week FROM business_units WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| StoreError::not_found("business unit", id))?;
                decode_business_unit(&row)
            }

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
                    items: rows.iter().map(decode_business_unit).collect::<StoreResult<_>>()?,
                    total: total(count),
                    offset: page.offset,
                })
            }

            async fn create_management_unit(&self, mu: &ManagementUnit) -> StoreResult<()> {
                sqlx::query("INSERT INTO management_units (id, business_unit_id, name) VALUES ($1, $2, $3)")
                    .bind(mu.id.as_uuid())
                    .bind(mu.business_unit_id.as_uuid())
                    .bind(&mu.name)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn create_agents(&self, agents: &[Agent]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                for chunk in agents.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!("INSERT INTO agents ({AGENT_COLS}) "));
                    q.push_values(chunk, |mut row, a| {
                        row.push_bind(a.id.as_uuid())
                            .push_bind(a.business_unit_id.as_uuid())
                            .push_bind(a.management_unit_id.map(|m| m.as_uuid()))
                            .push_bind(a.name.clone())
                            .push_bind(rows::skills_json(&a.skills))
                            .push_bind(i64::from(a.max_paid_minutes_per_week))
                            .push_bind(i64::from(a.min_rest_minutes))
                            .push_bind(rows::availability_json(&a.availability));
                    });
                    q.build().execute(&mut *tx).await.map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn agent(&self, id: AgentId) -> StoreResult<Agent> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                agents_by_ids(&mut conn, &[id])
                    .await?
                    .pop()
                    .ok_or_else(|| StoreError::not_found("agent", id))
            }

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
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE business_unit_id = $1")
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

            async fn set_availability(&self, id: AgentId, availability: &Availability) -> StoreResult<Agent> {
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
                emit(&mut w, agent.business_unit_id, jiff::Timestamp::now(), |w| {
                    w.one(EventType::AgentAvailabilityUpdated, || rota_core::webhook::availability_updated(&agent))
                })
                .await?;
                w.commit().await?;
                Ok(agent)
            }
        }

        impl rota_core::store::AuthStore for $store {
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

            async fn store_token(&self, token_hash: &str, client_id: &str, expires_at: jiff::Timestamp) -> StoreResult<()> {
                sqlx::query("INSERT INTO access_tokens (token_hash, client_id, expires_at) VALUES ($1, $2, $3)")
                    .bind(token_hash)
                    .bind(client_id)
                    .bind(micros(expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            /// One query per API request: the token and its client together.
            async fn purge_tokens(&self, now: jiff::Timestamp) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM access_tokens WHERE expires_at <= $1")
                    .bind(micros(now))
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected())
            }

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

        impl rota_core::store::IdempotencyStore for $store {
            async fn claim(
                &self,
                claim: &rota_core::store::IdempotencyClaim,
                request_hash: &str,
                now: jiff::Timestamp,
                lease: std::time::Duration,
                keep: std::time::Duration,
            ) -> StoreResult<rota_core::store::ClaimOutcome> {
                use rota_core::store::ClaimOutcome;
                let at = |d: std::time::Duration| micros(now) + i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2);
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
                let row = sqlx::query(concat!(
                    "SELECT s.request_hash, s.result, s.lease_until, s.expires_at FROM idempotency_keys s \
                     WHERE s.client_id = $1 AND s.idempotency_key = $2",
                    $lock
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
                let state = row.as_ref().map(|r| key_state(r, request_hash, now)).transpose()?.flatten();
                Ok(state.unwrap_or(rota_core::store::ClaimOutcome::Claimed))
            }

            async fn complete(&self, claim: &rota_core::store::IdempotencyClaim, result: &str) -> StoreResult<()> {
                sqlx::query("UPDATE idempotency_keys SET result = $1 WHERE client_id = $2 AND idempotency_key = $3")
                    .bind(result)
                    .bind(&claim.client)
                    .bind(&claim.key)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn release(&self, claim: &rota_core::store::IdempotencyClaim) -> StoreResult<()> {
                sqlx::query("DELETE FROM idempotency_keys WHERE client_id = $1 AND idempotency_key = $2 AND result IS NULL")
                    .bind(&claim.client)
                    .bind(&claim.key)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn purge_idempotency(&self, now: jiff::Timestamp) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                    .bind(micros(now))
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected())
            }
        }

        impl ScheduleStore for $store {
            async fn import_schedule(&self, new: &NewSchedule, ctx: &CommitContext) -> StoreResult<Schedule> {
                let bu = self.business_unit(new.business_unit_id).await?;
                let mut w = self.begin_write().await?;
                let mut owners: Vec<AgentId> = new.shifts.iter().filter_map(|s| s.owner).collect();
                owners.sort_unstable();
                owners.dedup();
                let found = agents_by_ids(&mut w.tx, &owners).await?;
                let mut foreign: Vec<Violation> = owners
                    .iter()
                    .filter(|id| !found.iter().any(|a| a.id == **id && a.business_unit_id == bu.id))
                    .map(|id| Violation {
                        code: ViolationCode::AgentOutsideBusinessUnit,
                        agent_id: Some(*id),
                        shift_id: None,
                        detail: format!("agent {id} is not an agent of business unit {}", bu.id),
                    })
                    .collect();
                foreign.extend(engine::import_violations(new, &bu.time_zone));
                if !foreign.is_empty() {
                    return Err(CommandError::Rejected(foreign).into());
                }
                let (schedule, shifts, commit) = engine::plan_import(new, ctx);
                sqlx::query(
                    "INSERT INTO schedules (id, business_unit_id, week_start, state, version) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(schedule.id.as_uuid())
                .bind(schedule.business_unit_id.as_uuid())
                .bind(schedule.week_start.to_string())
                .bind(schedule.state.as_str())
                .bind(version_i64(schedule.version))
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
                for chunk in shifts.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!("INSERT INTO shifts ({SHIFT_COLS}) "));
                    q.push_values(chunk, |mut row, s| {
                        row.push_bind(s.id.as_uuid())
                            .push_bind(s.schedule_id.as_uuid())
                            .push_bind(s.owner.map(|a| a.as_uuid()))
                            .push_bind(micros(s.window.start()))
                            .push_bind(micros(s.window.end()))
                            .push_bind(s.required_skill.as_ref().map(|k| k.as_str().to_owned()))
                            .push_bind(s.activity_code.as_str().to_owned())
                            .push_bind(version_i64(s.version));
                    });
                    q.build().execute(&mut *w.tx).await.map_err(db_error)?;
                }
                let wanted = wanted_of(&mut w, schedule.business_unit_id).await?;
                let mut batch = Batch::new();
                push_version(&mut batch, &commit.record);
                push_changes(&mut batch, &commit.record, &commit.changes);
                push_events(&mut batch, &wanted, schedule.business_unit_id, ctx.now, |w| {
                    w.one(EventType::ScheduleVersionCreated, || rota_core::webhook::version_created(&schedule, &commit))
                });
                push_key(&mut batch, ctx, &schedule)?;
                batch.run(&mut w.tx).await?;
                w.commit().await?;
                Ok(schedule)
            }

            async fn schedule(&self, id: ScheduleId) -> StoreResult<Schedule> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                load_schedule(&mut conn, id, false)
                    .await?
                    .map(|(s, _)| s)
                    .ok_or_else(|| StoreError::not_found("schedule", id))
            }

            async fn shift(&self, id: ShiftId) -> StoreResult<Shift> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                shifts_by_ids(&mut conn, &[id])
                    .await?
                    .pop()
                    .ok_or_else(|| StoreError::not_found("shift", id))
            }

            async fn find_schedule(&self, bu: BusinessUnitId, week_start: Date) -> StoreResult<Option<Schedule>> {
                let row = sqlx::query(
                    "SELECT id, business_unit_id, week_start, state, version FROM schedules \
                     WHERE business_unit_id = $1 AND week_start = $2",
                )
                .bind(bu.as_uuid())
                .bind(week_start.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                row.as_ref().map(decode_schedule).transpose()
            }

            async fn shifts(&self, id: ScheduleId, filter: ShiftFilter, page: PageRequest) -> StoreResult<Page<Shift>> {
                let (limit, offset) = page_args(page);
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                if load_schedule(&mut conn, id, false).await?.is_none() {
                    return Err(StoreError::not_found("schedule", id));
                }
                let owner_clause = if filter.agent.is_some() { " AND owner_agent_id = $4" } else { "" };
                let sql = format!(
                    "SELECT {SHIFT_COLS} FROM shifts WHERE schedule_id = $1{owner_clause} \
                     ORDER BY start_at, id LIMIT $2 OFFSET $3"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_uuid()).bind(limit).bind(offset);
                let count_sql = format!(
                    "SELECT COUNT(*) FROM shifts WHERE schedule_id = $1{}",
                    owner_clause.replace("$4", "$2")
                );
                let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql)).bind(id.as_uuid());
                if let Some(agent) = filter.agent {
                    query = query.bind(agent.as_uuid());
                    count = count.bind(agent.as_uuid());
                }
                let rows = query.fetch_all(&mut *conn).await.map_err(db_error)?;
                let count = count.fetch_one(&mut *conn).await.map_err(db_error)?;
                Ok(Page {
                    items: rows.iter().map(decode_shift).collect::<StoreResult<_>>()?,
                    total: total(count),
                    offset: page.offset,
                })
            }

            async fn versions(&self, id: ScheduleId, page: PageRequest) -> StoreResult<Page<VersionRecord>> {
                let (limit, offset) = page_args(page);
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                let Some((schedule, _)) = load_schedule(&mut conn, id, false).await? else {
                    return Err(StoreError::not_found("schedule", id));
                };
                let rows = sqlx::query(
                    "SELECT schedule_id, version, cause, actor, request_id, created_at, change_count \
                     FROM schedule_versions WHERE schedule_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
                )
                .bind(id.as_uuid())
                .bind(limit)
                .bind(offset)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
                Ok(Page {
                    items: rows.iter().map(decode_version).collect::<StoreResult<_>>()?,
                    // Versions are 1..=current without gaps, so the count is the current version.
                    total: schedule.version.get(),
                    offset: page.offset,
                })
            }

            async fn changes_since(&self, id: ScheduleId, since: Option<ScheduleVersion>) -> StoreResult<Vec<VersionChanges>> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                let Some((schedule, _)) = load_schedule(&mut conn, id, false).await? else {
                    return Err(StoreError::not_found("schedule", id));
                };
                if let Some(since) = since
                    && since > schedule.version
                {
                    return Err(CommandError::UnknownVersion {
                        schedule: id,
                        requested: since,
                        current: schedule.version,
                    }
                    .into());
                }
                history(&mut conn, id, since.map_or(0, version_i64), version_i64(schedule.version)).await
            }

            async fn schedule_as_of(&self, id: ScheduleId, version: ScheduleVersion) -> StoreResult<Vec<Shift>> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                let Some((schedule, _)) = load_schedule(&mut conn, id, false).await? else {
                    return Err(StoreError::not_found("schedule", id));
                };
                if version > schedule.version {
                    return Err(CommandError::UnknownVersion {
                        schedule: id,
                        requested: version,
                        current: schedule.version,
                    }
                    .into());
                }
                let entries = history(&mut conn, id, 0, version_i64(version)).await?;
                let states = replay(&entries).map_err(rows::corrupt)?;
                let sql = format!("SELECT {SHIFT_COLS} FROM shifts WHERE schedule_id = $1");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_uuid())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_error)?;
                let mut shifts = Vec::with_capacity(states.len());
                for row in &rows {
                    let mut shift = decode_shift(row)?;
                    let Some(then) = states.get(&shift.id) else { continue };
                    shift.owner = then.state.owner;
                    shift.window = TimeWindow::new(then.state.start, then.state.end).map_err(rows::corrupt)?;
                    shift.version = then.version;
                    shifts.push(shift);
                }
                shifts.sort_unstable_by_key(|s| (s.window.start(), s.id));
                Ok(shifts)
            }

            async fn apply_swaps(&self, req: &SwapRequest, ctx: &CommitContext) -> StoreResult<SwapResult> {
                let mut w = self.begin_write().await?;
                let snap = snapshot(&mut w, req.base.schedule(), &req.touched_shifts(), |touched| {
                    Snapshot::involved_agents(&req.items, touched)
                })
                .await?;
                let plan = engine::plan_swaps(&snap, req, ctx.now)?;
                let applied: Vec<&rota_core::command::SwapItem> = req
                    .items
                    .iter()
                    .zip(&plan.outcomes)
                    .filter(|(_, o)| o.is_applied())
                    .map(|(item, _)| item)
                    .collect();
                let version = snap.schedule.version.next();
                let swap_events = |w: &Wanted| {
                    if !w.wants(EventType::ShiftSwapApplied) {
                        return Vec::new();
                    }
                    applied
                        .iter()
                        .map(|item| {
                            let counterpart = snap.shifts.get(&item.new_shift_id).and_then(|s| s.owner);
                            rota_core::webhook::swap_applied(&snap.schedule, version, item, counterpart, None)
                        })
                        .collect()
                };
                let result =
                    commit_plan(&mut w, &snap.schedule, plan, VersionCause::BulkSwap, ctx, swap_events).await?;
                w.commit().await?;
                Ok(result)
            }

            async fn edit_shift(&self, edit: &ShiftEdit, ctx: &CommitContext) -> StoreResult<SwapResult> {
                let mut w = self.begin_write().await?;
                let schedule_id: Uuid = sqlx::query_scalar("SELECT schedule_id FROM shifts WHERE id = $1")
                    .bind(edit.shift_id.as_uuid())
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(db_error)?
                    .ok_or(CommandError::ShiftNotFound(edit.shift_id))?;
                let schedule_id = ScheduleId::from_uuid(schedule_id);
                let snap = snapshot(&mut w, schedule_id, &[edit.shift_id], |touched| {
                    let mut agents: Vec<AgentId> = touched.iter().filter_map(|s| s.owner).collect();
                    if let EditChange::Reassign { agent_id } = edit.change {
                        agents.push(agent_id);
                    }
                    agents
                })
                .await?;
                let plan = engine::plan_edit(&snap, edit, ctx.now)?;
                let result =
                    commit_plan(&mut w, &snap.schedule, plan, VersionCause::SupervisorEdit, ctx, no_events).await?;
                w.commit().await?;
                Ok(result)
            }

            async fn publish(&self, id: ScheduleId, ctx: &CommitContext) -> StoreResult<Schedule> {
                let mut w = self.begin_write().await?;
                let (mut schedule, _) = load_schedule(&mut w.tx, id, true)
                    .await?
                    .ok_or_else(|| StoreError::not_found("schedule", id))?;
                if schedule.state == ScheduleState::Published {
                    record_result(&mut w.tx, ctx, &schedule).await?;
                    w.commit().await?;
                    return Ok(schedule);
                }
                let commit = Commit::new(schedule.id, schedule.version.next(), VersionCause::Publish, ctx, Vec::new());
                write_commit(&mut w, &schedule, &commit, no_events).await?;
                sqlx::query("UPDATE schedules SET state = $1 WHERE id = $2")
                    .bind(ScheduleState::Published.as_str())
                    .bind(id.as_uuid())
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_error)?;
                schedule.state = ScheduleState::Published;
                schedule.version = commit.record.version;
                record_result(&mut w.tx, ctx, &schedule).await?;
                w.commit().await?;
                Ok(schedule)
            }
        }
    };
}

pub(crate) use store_impl;
