//! Self-service, trades and webhooks, written once for both backends like [`crate::sql`], and
//! instantiated in the same module so they share its helpers (the schedule lock, snapshots,
//! `write_commit`, the outbox).

/// `row_lock` is appended to reads of a trade row inside a write transaction (PostgreSQL's
/// `FOR UPDATE`); `skip_locked` to the dispatcher's lease query (PostgreSQL's
/// `FOR UPDATE OF d SKIP LOCKED`, so two dispatchers never lease the same delivery). SQLite
/// needs neither: its write lock serialises writers.
macro_rules! trades_impl {
    ($store:ty, $db:ty, row_lock: $row_lock:literal, skip_locked: $skip_locked:literal) => {
        use rota_core::engine::SelfServiceAction;
        use rota_core::ids::{SubscriptionId, TradeId};
        use rota_core::store::{NewTrade, SubscriptionUpdate, TradeFilter, TradeReview, TradeStore, WebhookStore};
        use rota_core::trade::{BusinessUnitSettings, Decision, Trade, TradeError, TradeState, Verdict};
        use rota_core::webhook::{
            AttemptResult, Delivery, DeliveryState, DueDelivery, Event, NewSubscription, Subscription,
        };

        /// The actor of what the system decides on its own (automatic review, expiry).
        const SYSTEM: &str = "system";

        async fn settings_of(conn: &mut Conn, bu: BusinessUnitId) -> StoreResult<BusinessUnitSettings> {
            let doc: Option<String> = sqlx::query_scalar("SELECT settings FROM business_unit_settings WHERE business_unit_id = $1")
                .bind(bu.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?;
            match doc {
                Some(doc) => serde_json::from_str(&doc).map_err(rows::corrupt),
                None => Ok(BusinessUnitSettings::default()),
            }
        }

        fn decode_trade(doc: &str) -> StoreResult<Trade> {
            serde_json::from_str(doc).map_err(rows::corrupt)
        }

        fn trade_doc(trade: &Trade) -> StoreResult<String> {
            serde_json::to_string(trade).map_err(|e| StoreError::Backend(Box::new(e)))
        }

        /// The trade, locked for the transaction.
        async fn lock_trade(conn: &mut Conn, id: TradeId) -> StoreResult<Trade> {
            let doc: Option<String> = sqlx::query_scalar(concat!("SELECT doc FROM trades WHERE id = $1", $row_lock))
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?;
            decode_trade(&doc.ok_or(TradeError::NotFound(id))?)
        }

        /// A locked trade that the caller saw at `expected` and that has not expired.
        async fn open_trade(conn: &mut Conn, id: TradeId, expected: u32, now: jiff::Timestamp) -> StoreResult<Trade> {
            let trade = lock_trade(conn, id).await?;
            if trade.version != expected {
                return Err(TradeError::VersionConflict { expected, current: Box::new(trade) }.into());
            }
            if trade.state.is_open() && trade.expires_at <= now {
                return Err(TradeError::Expired(id).into());
            }
            Ok(trade)
        }

        async fn insert_trade(conn: &mut Conn, trade: &Trade) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO trades (id, business_unit_id, schedule_id, state, initiating_agent_id, target_agent_id, \
                 receiving_agent_id, expires_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(trade.id.as_uuid())
            .bind(trade.business_unit_id.as_uuid())
            .bind(trade.schedule_id.as_uuid())
            .bind(trade.state.as_str())
            .bind(trade.initiating_agent_id.as_uuid())
            .bind(trade.target_agent_id.map(|a| a.as_uuid()))
            .bind(trade.receiving_agent_id.map(|a| a.as_uuid()))
            .bind(micros(trade.expires_at))
            .bind(i64::from(trade.version))
            .bind(trade_doc(trade)?)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            Ok(())
        }

        /// Moves a locked trade to `to` (one version up), releasing its holds when it closes,
        /// and writes its event.
        async fn transition(
            w: &mut Tx,
            trade: &mut Trade,
            to: TradeState,
            now: jiff::Timestamp,
        ) -> StoreResult<()> {
            let from = trade.state;
            if !from.may_become(to) {
                return Err(TradeError::InvalidTransition { from, to }.into());
            }
            trade.state = to;
            trade.version += 1;
            trade.updated_at = now;
            let conn = &mut *w.tx;
            let updated = sqlx::query(
                "UPDATE trades SET state = $1, receiving_agent_id = $2, version = $3, doc = $4 WHERE id = $5 AND version = $6",
            )
            .bind(to.as_str())
            .bind(trade.receiving_agent_id.map(|a| a.as_uuid()))
            .bind(i64::from(trade.version))
            .bind(trade_doc(trade)?)
            .bind(trade.id.as_uuid())
            .bind(i64::from(trade.version - 1))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Busy("the trade changed under its lock".into()));
            }
            if !to.is_open() {
                sqlx::query("DELETE FROM trade_holds WHERE trade_id = $1")
                    .bind(trade.id.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            emit(w, trade.business_unit_id, now, |w| {
                w.one(EventType::TradeStateChanged, || rota_core::webhook::trade_changed(trade, Some(from)))
            })
            .await
        }

        /// What the engine needs to decide a trade, read under the schedule's write lock: its
        /// shifts, both agents with their shifts, and the holds of other trades (not its own).
        async fn trade_snapshot(w: &mut Tx, trade: &Trade) -> StoreResult<Snapshot> {
            let mut snap = snapshot(w, trade.schedule_id, &trade.shifts(), |touched| {
                let owners = touched.iter().filter_map(|s| s.owner);
                owners.chain(trade.receiving_agent_id).chain([trade.initiating_agent_id]).collect()
            })
            .await?;
            snap.held.retain(|_, holder| *holder != trade.id);
            Ok(snap)
        }

        /// Applies a matched trade as the engine decides, under the schedule's write lock:
        /// `Ok` with the version it created, or the violations that stop it.
        async fn apply_trade(
            w: &mut Tx,
            trade: &Trade,
            base: ScheduleVersion,
            waived: &[ViolationCode],
            ctx: &CommitContext,
        ) -> StoreResult<Result<rota_core::version::ScheduleVersionId, Vec<Violation>>> {
            let snap = trade_snapshot(w, trade).await?;
            let (plan, item) = match engine::plan_trade(&snap, trade, base, ctx.now, waived) {
                Ok(planned) => planned,
                Err(violations) => return Ok(Err(violations)),
            };
            let Some(commit) = Commit::after(&snap.schedule, VersionCause::SelfService, ctx, plan.changes) else {
                return Ok(Err(vec![Violation {
                    code: ViolationCode::NoChange,
                    agent_id: trade.receiving_agent_id,
                    shift_id: Some(trade.initiating_shift_id),
                    detail: "the trade changes nothing".into(),
                }]));
            };
            write_commit(w, &snap.schedule, &commit, |wanted| match item {
                Some(item) => wanted.one(EventType::ShiftSwapApplied, || {
                    let counterpart = snap.shifts.get(&item.new_shift_id).and_then(|s| s.owner);
                    rota_core::webhook::swap_applied(&snap.schedule, commit.record.version, &item, counterpart, Some(trade.id))
                }),
                None => Vec::new(),
            })
            .await?;
            Ok(Ok(rota_core::version::ScheduleVersionId::new(snap.schedule.id, commit.record.version)))
        }

        /// The rule check of a match, against the schedule as it stands (locked): the trade's
        /// own rules and the engine's, nothing waived.
        async fn check_trade(
            w: &mut Tx,
            trade: &Trade,
            settings: &rota_core::trade::TradeSettings,
            now: jiff::Timestamp,
        ) -> StoreResult<(ScheduleVersion, Vec<Violation>)> {
            let snap = trade_snapshot(w, trade).await?;
            let initiating = snap
                .shifts
                .get(&trade.initiating_shift_id)
                .ok_or(CommandError::ShiftNotFound(trade.initiating_shift_id))?;
            let receiving = trade.receiving_shift_id.and_then(|id| snap.shifts.get(&id));
            let version = snap.schedule.version;
            let mut violations = settings.trade_violations(initiating, receiving, now);
            if let Err(found) = engine::plan_trade(&snap, trade, version, now, &[]) {
                violations.extend(found);
            }
            Ok((version, violations))
        }

        async fn decode_subscription(conn: &mut Conn, row: &DbRow) -> StoreResult<Subscription> {
            let id: Uuid = row.try_get(0).map_err(db_error)?;
            let events: Vec<String> = sqlx::query_scalar(
                "SELECT event_type FROM webhook_subscription_events WHERE subscription_id = $1 ORDER BY event_type",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
            Ok(Subscription {
                id: SubscriptionId::from_uuid(id),
                business_unit_id: BusinessUnitId::from_uuid(row.try_get(1).map_err(db_error)?),
                url: row.try_get(2).map_err(db_error)?,
                enabled: row.try_get(3).map_err(db_error)?,
                disabled_reason: row.try_get(4).map_err(db_error)?,
                consecutive_failures: u32::try_from(row.try_get::<i64, _>(5).map_err(db_error)?).unwrap_or(u32::MAX),
                created_at: rows::instant(row.try_get(6).map_err(db_error)?)?,
                events: events
                    .iter()
                    .map(|e| EventType::parse(e).ok_or_else(|| rows::corrupt(format!("event type `{e}`"))))
                    .collect::<StoreResult<_>>()?,
            })
        }

        async fn load_subscription(conn: &mut Conn, id: SubscriptionId) -> StoreResult<Subscription> {
            let row = sqlx::query("SELECT id, business_unit_id, url, enabled, disabled_reason, consecutive_failures, created_at FROM webhook_subscriptions WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?
                .ok_or_else(|| StoreError::not_found("webhook subscription", id))?;
            decode_subscription(conn, &row).await
        }

        async fn set_events(conn: &mut Conn, id: SubscriptionId, events: &[EventType]) -> StoreResult<()> {
            sqlx::query("DELETE FROM webhook_subscription_events WHERE subscription_id = $1")
                .bind(id.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            for event in events {
                sqlx::query("INSERT INTO webhook_subscription_events (subscription_id, event_type) VALUES ($1, $2)")
                    .bind(id.as_uuid())
                    .bind(event.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        }

        fn decode_delivery(r: &DbRow) -> StoreResult<Delivery> {
            let state: String = r.try_get(5).map_err(db_error)?;
            let event_type: String = r.try_get(3).map_err(db_error)?;
            Ok(Delivery {
                id: r.try_get(0).map_err(db_error)?,
                subscription_id: SubscriptionId::from_uuid(r.try_get(1).map_err(db_error)?),
                event_id: rota_core::ids::EventId::from_uuid(r.try_get(2).map_err(db_error)?),
                event_type: EventType::parse(&event_type).ok_or_else(|| rows::corrupt(format!("event type `{event_type}`")))?,
                sequence: u64::try_from(r.try_get::<i64, _>(4).map_err(db_error)?).unwrap_or(0),
                state: DeliveryState::parse(&state).ok_or_else(|| rows::corrupt(format!("delivery state `{state}`")))?,
                attempts: u32::try_from(r.try_get::<i64, _>(6).map_err(db_error)?).unwrap_or(u32::MAX),
                last_status: r.try_get::<Option<i64>, _>(7).map_err(db_error)?.and_then(|s| u16::try_from(s).ok()),
                last_error: r.try_get(8).map_err(db_error)?,
                next_attempt_at: rows::instant(r.try_get(9).map_err(db_error)?)?,
                delivered_at: r.try_get::<Option<i64>, _>(10).map_err(db_error)?.map(rows::instant).transpose()?,
            })
        }

        impl TradeStore for $store {
            async fn settings(&self, bu: BusinessUnitId) -> StoreResult<BusinessUnitSettings> {
                let mut conn = self.pool().acquire().await.map_err(db_error)?;
                settings_of(&mut conn, bu).await
            }

            async fn set_settings(&self, bu: BusinessUnitId, settings: &BusinessUnitSettings) -> StoreResult<()> {
                let doc = serde_json::to_string(settings).map_err(|e| StoreError::Backend(Box::new(e)))?;
                sqlx::query(
                    "INSERT INTO business_unit_settings (business_unit_id, settings) VALUES ($1, $2) \
                     ON CONFLICT (business_unit_id) DO UPDATE SET settings = excluded.settings",
                )
                .bind(bu.as_uuid())
                .bind(doc)
                .execute(self.pool())
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn self_service(
                &self,
                shift_id: ShiftId,
                agent: AgentId,
                action: SelfServiceAction,
                ctx: &CommitContext,
            ) -> StoreResult<SwapResult> {
                let mut w = self.begin_write().await?;
                let schedule_id: Uuid = sqlx::query_scalar("SELECT schedule_id FROM shifts WHERE id = $1")
                    .bind(shift_id.as_uuid())
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(db_error)?
                    .ok_or(CommandError::ShiftNotFound(shift_id))?;
                let schedule_id = ScheduleId::from_uuid(schedule_id);
                let snap = snapshot(&mut w, schedule_id, &[shift_id], |touched| {
                    touched.iter().filter_map(|s| s.owner).chain([agent]).collect()
                })
                .await?;
                // Agents see published schedules only: a draft's shifts do not exist for them.
                if snap.schedule.state != ScheduleState::Published {
                    return Err(CommandError::ShiftNotFound(shift_id).into());
                }
                let policy = settings_of(&mut w.tx, snap.schedule.business_unit_id).await?.self_service;
                let plan = engine::plan_self_service(&snap, shift_id, agent, action, &policy, ctx.now)?;
                let result =
                    commit_plan(&mut w, &snap.schedule, plan, VersionCause::SelfService, ctx, no_events).await?;
                w.commit().await?;
                Ok(result)
            }

            async fn create_trade(&self, new: &NewTrade, ctx: &CommitContext) -> StoreResult<Trade> {
                let mut w = self.begin_write().await?;
                let shift = shifts_by_ids(&mut w.tx, &[new.shift_id])
                    .await?
                    .pop()
                    .ok_or(CommandError::ShiftNotFound(new.shift_id))?;
                let (schedule, _) = load_schedule(&mut w.tx, shift.schedule_id, false)
                    .await?
                    .ok_or(CommandError::ScheduleNotFound(shift.schedule_id))?;
                if schedule.state != ScheduleState::Published {
                    return Err(CommandError::ShiftNotFound(new.shift_id).into());
                }
                if shift.owner != Some(new.initiating_agent_id) {
                    return Err(TradeError::Invalid(format!("shift {} is not yours", shift.id)).into());
                }
                if new.target_agent_id == Some(new.initiating_agent_id) {
                    return Err(TradeError::Invalid("a trade cannot be offered to its initiator".into()).into());
                }
                if shift.window.start() <= ctx.now {
                    return Err(TradeError::Invalid(format!("shift {} has already started", shift.id)).into());
                }
                if new.expires_at <= ctx.now || new.expires_at > shift.window.start() {
                    return Err(TradeError::Invalid(
                        "expiresAt must be in the future and no later than the shift's start".into(),
                    )
                    .into());
                }
                if let Some(target) = new.target_agent_id {
                    let found = agents_by_ids(&mut w.tx, &[target]).await?;
                    if !found.iter().any(|a| a.business_unit_id == schedule.business_unit_id) {
                        return Err(TradeError::Invalid(format!("agent {target} is not in this business unit")).into());
                    }
                }
                let trade = Trade {
                    id: TradeId::new(),
                    business_unit_id: schedule.business_unit_id,
                    schedule_id: schedule.id,
                    initiating_agent_id: new.initiating_agent_id,
                    initiating_shift_id: shift.id,
                    target_agent_id: new.target_agent_id,
                    acceptable_intervals: new.acceptable_intervals.clone(),
                    expires_at: new.expires_at,
                    state: TradeState::Unmatched,
                    receiving_agent_id: None,
                    receiving_shift_id: None,
                    matched_version: None,
                    check: None,
                    decision: None,
                    applied_version_id: None,
                    version: 1,
                    created_at: ctx.now,
                    updated_at: ctx.now,
                };
                insert_trade(&mut w.tx, &trade).await?;
                emit(&mut w, trade.business_unit_id, ctx.now, |w| {
                    w.one(EventType::TradeStateChanged, || rota_core::webhook::trade_changed(&trade, None))
                })
                .await?;
                record_result(&mut w.tx, ctx, &trade).await?;
                w.commit().await?;
                Ok(trade)
            }

            async fn trade(&self, id: TradeId) -> StoreResult<Trade> {
                let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM trades WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(self.pool())
                    .await
                    .map_err(db_error)?;
                decode_trade(&doc.ok_or(TradeError::NotFound(id))?)
            }

            async fn trades(&self, filter: TradeFilter, page: PageRequest) -> StoreResult<Page<Trade>> {
                let build = |select: &str| {
                    let mut q = QueryBuilder::<$db>::new(select);
                    q.push(" FROM trades WHERE 1 = 1");
                    if let Some(bu) = filter.business_unit {
                        q.push(" AND business_unit_id = ").push_bind(bu.as_uuid());
                    }
                    if let Some(state) = filter.state {
                        q.push(" AND state = ").push_bind(state.as_str());
                    }
                    if let Some(agent) = filter.visible_to {
                        let id = agent.as_uuid();
                        q.push(" AND (initiating_agent_id = ").push_bind(id);
                        q.push(" OR receiving_agent_id = ").push_bind(id);
                        q.push(" OR target_agent_id = ").push_bind(id);
                        q.push(" OR (target_agent_id IS NULL AND state = 'Unmatched'))");
                    }
                    q
                };
                let (limit, offset) = page_args(page);
                let mut q = build("SELECT doc");
                q.push(" ORDER BY id DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
                let docs: Vec<String> = q.build_query_scalar().fetch_all(self.pool()).await.map_err(db_error)?;
                let count: i64 = build("SELECT COUNT(*)").build_query_scalar().fetch_one(self.pool()).await.map_err(db_error)?;
                Ok(Page {
                    items: docs.iter().map(|d| decode_trade(d)).collect::<StoreResult<_>>()?,
                    total: total(count),
                    offset: page.offset,
                })
            }

            async fn match_trade(
                &self,
                id: TradeId,
                expected_version: u32,
                receiver: AgentId,
                shift: Option<ShiftId>,
                ctx: &CommitContext,
            ) -> StoreResult<Trade> {
                let mut w = self.begin_write().await?;
                let mut trade = open_trade(&mut w.tx, id, expected_version, ctx.now).await?;
                if trade.state != TradeState::Unmatched {
                    return Err(TradeError::InvalidTransition { from: trade.state, to: TradeState::Matched }.into());
                }
                let receiving = match shift {
                    Some(s) => Some(shifts_by_ids(&mut w.tx, &[s]).await?.pop().ok_or(CommandError::ShiftNotFound(s))?),
                    None => None,
                };
                trade.check_match(receiver, receiving.as_ref())?;
                trade.receiving_agent_id = Some(receiver);
                trade.receiving_shift_id = shift;
                let settings = settings_of(&mut w.tx, trade.business_unit_id).await?.trades;
                // Under the schedule's lock from here on (check_trade takes it): holds of one
                // schedule's shifts are taken one transaction at a time.
                let (version, violations) = check_trade(&mut w, &trade, &settings, ctx.now).await?;
                if let Some((shift, holder)) = holds_of(&mut w.tx, &trade.shifts()).await?.into_iter().next() {
                    return Err(TradeError::ShiftInTrade { shift, trade: holder }.into());
                }
                let check = settings.review(violations);
                trade.matched_version = Some(version);
                let verdict = check.verdict;
                trade.check = Some(check);
                match verdict {
                    Verdict::Deny => {
                        trade.decision = Some(Decision {
                            by: SYSTEM.into(),
                            at: ctx.now,
                            reason: Some("the automatic review denied the trade: it breaks rules the business unit denies".into()),
                            violations: Vec::new(),
                        });
                        transition(&mut w, &mut trade, TradeState::Denied, ctx.now).await?;
                    }
                    Verdict::Supervisor => {
                        for shift in trade.shifts() {
                            sqlx::query("INSERT INTO trade_holds (shift_id, trade_id) VALUES ($1, $2)")
                                .bind(shift.as_uuid())
                                .bind(trade.id.as_uuid())
                                .execute(&mut *w.tx)
                                .await
                                .map_err(db_error)?;
                        }
                        transition(&mut w, &mut trade, TradeState::Matched, ctx.now).await?;
                    }
                    Verdict::Approve => {
                        let applied = apply_trade(&mut w, &trade, version, &settings.waived(false), ctx).await?;
                        trade.decision = Some(Decision {
                            by: SYSTEM.into(),
                            at: ctx.now,
                            reason: Some("approved by the automatic review".into()),
                            violations: applied.as_ref().err().cloned().unwrap_or_default(),
                        });
                        let to = match applied {
                            Ok(version_id) => {
                                trade.applied_version_id = Some(version_id);
                                TradeState::Approved
                            }
                            Err(_) => TradeState::Denied,
                        };
                        transition(&mut w, &mut trade, to, ctx.now).await?;
                    }
                }
                record_result(&mut w.tx, ctx, &trade).await?;
                w.commit().await?;
                Ok(trade)
            }

            async fn cancel_trade(&self, id: TradeId, expected_version: u32, by: AgentId, ctx: &CommitContext) -> StoreResult<Trade> {
                let mut w = self.begin_write().await?;
                let mut trade = open_trade(&mut w.tx, id, expected_version, ctx.now).await?;
                if trade.initiating_agent_id != by {
                    return Err(TradeError::Forbidden(format!("only the initiator may cancel trade {id}")).into());
                }
                transition(&mut w, &mut trade, TradeState::Canceled, ctx.now).await?;
                record_result(&mut w.tx, ctx, &trade).await?;
                w.commit().await?;
                Ok(trade)
            }

            async fn review_trade(&self, review: &TradeReview, ctx: &CommitContext) -> StoreResult<Trade> {
                let mut w = self.begin_write().await?;
                let mut trade = open_trade(&mut w.tx, review.trade_id, review.expected_version, ctx.now).await?;
                let wanted = if review.approve { TradeState::Approved } else { TradeState::Denied };
                if trade.state != TradeState::Matched {
                    return Err(TradeError::InvalidTransition { from: trade.state, to: wanted }.into());
                }
                let mut decision = Decision { by: ctx.actor.clone(), at: ctx.now, reason: review.reason.clone(), violations: Vec::new() };
                let to = if review.approve {
                    let settings = settings_of(&mut w.tx, trade.business_unit_id).await?.trades;
                    let base = trade.matched_version.unwrap_or(ScheduleVersion::FIRST);
                    let waived = settings.waived(true);
                    // The trade's own rules, checked again now: notice shrinks while a trade waits.
                    let shifts = shifts_by_ids(&mut w.tx, &trade.shifts()).await?;
                    let initiating = shifts.iter().find(|s| s.id == trade.initiating_shift_id);
                    let receiving = trade.receiving_shift_id.and_then(|id| shifts.iter().find(|s| s.id == id));
                    let mut broken: Vec<Violation> = initiating
                        .map(|i| settings.trade_violations(i, receiving, ctx.now))
                        .unwrap_or_default();
                    broken.retain(|v| !waived.contains(&v.code));
                    let applied = if broken.is_empty() {
                        apply_trade(&mut w, &trade, base, &waived, ctx).await?
                    } else {
                        Err(broken)
                    };
                    match applied {
                        Ok(version_id) => {
                            trade.applied_version_id = Some(version_id);
                            TradeState::Approved
                        }
                        Err(violations) => {
                            decision.reason = Some("the approval could not apply: the trade breaks rules or its shifts changed".into());
                            decision.violations = violations;
                            TradeState::Denied
                        }
                    }
                } else {
                    TradeState::Denied
                };
                trade.decision = Some(decision);
                transition(&mut w, &mut trade, to, ctx.now).await?;
                record_result(&mut w.tx, ctx, &trade).await?;
                w.commit().await?;
                Ok(trade)
            }

            async fn expire_trades(&self, now: jiff::Timestamp) -> StoreResult<Vec<Trade>> {
                let mut w = self.begin_write().await?;
                let docs: Vec<String> = sqlx::query_scalar(concat!(
                    "SELECT doc FROM trades WHERE state IN ('Unmatched', 'Matched') AND expires_at <= $1 ORDER BY id",
                    $row_lock
                ))
                .bind(micros(now))
                .fetch_all(&mut *w.tx)
                .await
                .map_err(db_error)?;
                let mut expired = Vec::with_capacity(docs.len());
                for doc in docs {
                    let mut trade = decode_trade(&doc)?;
                    trade.decision = Some(Decision { by: SYSTEM.into(), at: now, reason: Some("expired".into()), violations: Vec::new() });
                    transition(&mut w, &mut trade, TradeState::Expired, now).await?;
                    expired.push(trade);
                }
                w.commit().await?;
                Ok(expired)
            }
        }

        impl WebhookStore for $store {
            async fn create_subscription(&self, new: &NewSubscription) -> StoreResult<()> {
                let s = &new.subscription;
                let mut w = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO webhook_subscriptions (id, business_unit_id, url, secret, enabled, disabled_reason, \
                     consecutive_failures, created_at) VALUES ($1, $2, $3, $4, $5, NULL, 0, $6)",
                )
                .bind(s.id.as_uuid())
                .bind(s.business_unit_id.as_uuid())
                .bind(&s.url)
                .bind(&new.secret)
                .bind(s.enabled)
                .bind(micros(s.created_at))
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
                set_events(&mut w.tx, s.id, &s.events).await?;
                w.commit().await?;
                Ok(())
            }

            async fn subscription(&self, id: SubscriptionId) -> StoreResult<Subscription> {
                let mut conn = self.pool().acquire().await.map_err(db_error)?;
                load_subscription(&mut conn, id).await
            }

            async fn subscriptions(&self, bu: BusinessUnitId, page: PageRequest) -> StoreResult<Page<Subscription>> {
                let (limit, offset) = page_args(page);
                let mut conn = self.pool().acquire().await.map_err(db_error)?;
                let rows = sqlx::query(
                    "SELECT id, business_unit_id, url, enabled, disabled_reason, consecutive_failures, created_at FROM webhook_subscriptions \
                     WHERE business_unit_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                )
                .bind(bu.as_uuid())
                .bind(limit)
                .bind(offset)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    items.push(decode_subscription(&mut conn, row).await?);
                }
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_subscriptions WHERE business_unit_id = $1")
                    .bind(bu.as_uuid())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(Page { items, total: total(count), offset: page.offset })
            }

            async fn update_subscription(&self, id: SubscriptionId, update: &SubscriptionUpdate) -> StoreResult<Subscription> {
                let mut w = self.begin_write().await?;
                load_subscription(&mut w.tx, id).await?;
                if let Some(url) = &update.url {
                    sqlx::query("UPDATE webhook_subscriptions SET url = $1 WHERE id = $2")
                        .bind(url)
                        .bind(id.as_uuid())
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                }
                if let Some(events) = &update.events {
                    set_events(&mut w.tx, id, events).await?;
                }
                match update.enabled {
                    Some(true) => {
                        sqlx::query(
                            "UPDATE webhook_subscriptions SET enabled = $1, disabled_reason = NULL, consecutive_failures = 0 WHERE id = $2",
                        )
                        .bind(true)
                        .bind(id.as_uuid())
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                    }
                    Some(false) => {
                        sqlx::query("UPDATE webhook_subscriptions SET enabled = $1, disabled_reason = $2 WHERE id = $3")
                            .bind(false)
                            .bind("turned off")
                            .bind(id.as_uuid())
                            .execute(&mut *w.tx)
                            .await
                            .map_err(db_error)?;
                    }
                    None => {}
                }
                let updated = load_subscription(&mut w.tx, id).await?;
                w.commit().await?;
                Ok(updated)
            }

            async fn delete_subscription(&self, id: SubscriptionId) -> StoreResult<()> {
                let mut w = self.begin_write().await?;
                for statement in [
                    "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
                    "DELETE FROM webhook_subscription_events WHERE subscription_id = $1",
                ] {
                    sqlx::query(statement).bind(id.as_uuid()).execute(&mut *w.tx).await.map_err(db_error)?;
                }
                let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
                    .bind(id.as_uuid())
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_error)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("webhook subscription", id));
                }
                w.commit().await?;
                Ok(())
            }

            async fn deliveries(&self, id: SubscriptionId, page: PageRequest) -> StoreResult<Page<Delivery>> {
                let (limit, offset) = page_args(page);
                let rows = sqlx::query(
                    "SELECT d.id, d.subscription_id, o.event_id, o.event_type, o.seq, d.state, d.attempts, d.last_status, \
                     d.last_error, d.next_attempt_at, d.delivered_at FROM webhook_deliveries d \
                     JOIN outbox_events o ON o.seq = d.event_seq WHERE d.subscription_id = $1 ORDER BY d.id DESC LIMIT $2 OFFSET $3",
                )
                .bind(id.as_uuid())
                .bind(limit)
                .bind(offset)
                .fetch_all(self.pool())
                .await
                .map_err(db_error)?;
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE subscription_id = $1")
                    .bind(id.as_uuid())
                    .fetch_one(self.pool())
                    .await
                    .map_err(db_error)?;
                Ok(Page {
                    items: rows.iter().map(decode_delivery).collect::<StoreResult<_>>()?,
                    total: total(count),
                    offset: page.offset,
                })
            }

            async fn lease_due(&self, now: jiff::Timestamp, lease_until: jiff::Timestamp, limit: u32) -> StoreResult<Vec<DueDelivery>> {
                // The dispatcher asks after every change; most of the time nothing is due. Only
                // then does it queue for the write lock, beside the requests that need it.
                let any_due: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM webhook_deliveries d \
                     JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                     WHERE d.state = 'pending' AND s.enabled AND d.next_attempt_at <= $1 \
                     AND (d.leased_until IS NULL OR d.leased_until <= $1))",
                )
                .bind(micros(now))
                .fetch_one(self.pool())
                .await
                .map_err(db_error)?;
                if !any_due {
                    return Ok(Vec::new());
                }
                let mut w = self.begin_write().await?;
                // The head of each (subscription, ordering key) queue only: a later event waits
                // until every earlier one of its queue is delivered, leased ones included.
                let rows = sqlx::query(concat!(
                    "SELECT d.id, d.attempts, d.subscription_id, s.url, s.secret, o.event_id, o.event_type, \
                     o.business_unit_id, o.seq, o.created_at, o.data \
                     FROM webhook_deliveries d \
                     JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                     JOIN outbox_events o ON o.seq = d.event_seq \
                     WHERE d.state = 'pending' AND s.enabled AND d.next_attempt_at <= $1 \
                     AND (d.leased_until IS NULL OR d.leased_until <= $1) \
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.subscription_id = d.subscription_id \
                     AND e.ordering_key = d.ordering_key AND e.state = 'pending' AND e.event_seq < d.event_seq) \
                     ORDER BY d.event_seq LIMIT $2",
                    $skip_locked
                ))
                .bind(micros(now))
                .bind(i64::from(limit))
                .fetch_all(&mut *w.tx)
                .await
                .map_err(db_error)?;
                let mut due = Vec::with_capacity(rows.len());
                for r in &rows {
                    let event_type: String = r.try_get(6).map_err(db_error)?;
                    let data: String = r.try_get(10).map_err(db_error)?;
                    due.push(DueDelivery {
                        delivery_id: r.try_get(0).map_err(db_error)?,
                        attempt: u32::try_from(r.try_get::<i64, _>(1).map_err(db_error)?).unwrap_or(u32::MAX).saturating_add(1),
                        subscription_id: SubscriptionId::from_uuid(r.try_get(2).map_err(db_error)?),
                        url: r.try_get(3).map_err(db_error)?,
                        secret: r.try_get(4).map_err(db_error)?,
                        event: Event {
                            id: rota_core::ids::EventId::from_uuid(r.try_get(5).map_err(db_error)?),
                            event_type: EventType::parse(&event_type)
                                .ok_or_else(|| rows::corrupt(format!("event type `{event_type}`")))?,
                            business_unit_id: BusinessUnitId::from_uuid(r.try_get(7).map_err(db_error)?),
                            sequence: u64::try_from(r.try_get::<i64, _>(8).map_err(db_error)?).unwrap_or(0),
                            created_at: rows::instant(r.try_get(9).map_err(db_error)?)?,
                            data: serde_json::from_str(&data).map_err(rows::corrupt)?,
                        },
                    });
                }
                if !due.is_empty() {
                    let mut q = QueryBuilder::<$db>::new("UPDATE webhook_deliveries SET attempts = attempts + 1, leased_until = ");
                    q.push_bind(micros(lease_until));
                    q.push(" WHERE id IN (");
                    let mut list = q.separated(", ");
                    for d in &due {
                        list.push_bind(d.delivery_id);
                    }
                    q.push(")");
                    q.build().execute(&mut *w.tx).await.map_err(db_error)?;
                }
                w.commit().await?;
                Ok(due)
            }

            async fn purge_deliveries(&self, before: jiff::Timestamp) -> StoreResult<u64> {
                let mut w = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < $1")
                    .bind(micros(before))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query(
                    "DELETE FROM outbox_events WHERE NOT EXISTS \
                     (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = outbox_events.seq)",
                )
                .execute(&mut *w.tx)
                .await
                .map_err(db_error)?;
                w.commit().await?;
                Ok(done.rows_affected())
            }

            async fn record_attempt(
                &self,
                delivery_id: i64,
                result: &AttemptResult,
                now: jiff::Timestamp,
                max_failures: u32,
            ) -> StoreResult<Subscription> {
                let mut w = self.begin_write().await?;
                let subscription: Uuid = sqlx::query_scalar("SELECT subscription_id FROM webhook_deliveries WHERE id = $1")
                    .bind(delivery_id)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| StoreError::not_found("webhook delivery", delivery_id))?;
                match result {
                    AttemptResult::Delivered { status } => {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $1, last_status = $2, \
                             last_error = NULL, leased_until = NULL WHERE id = $3",
                        )
                        .bind(micros(now))
                        .bind(i64::from(*status))
                        .bind(delivery_id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                        sqlx::query("UPDATE webhook_subscriptions SET consecutive_failures = 0 WHERE id = $1")
                            .bind(subscription)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(db_error)?;
                    }
                    AttemptResult::Failed { status, error, retry_at } => {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET next_attempt_at = $1, last_status = $2, last_error = $3, \
                             leased_until = NULL WHERE id = $4",
                        )
                        .bind(micros(*retry_at))
                        .bind(status.map(i64::from))
                        .bind(error)
                        .bind(delivery_id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                        let failures: i64 = sqlx::query_scalar(
                            "UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1 \
                             WHERE id = $1 RETURNING consecutive_failures",
                        )
                        .bind(subscription)
                        .fetch_one(&mut *w.tx)
                        .await
                        .map_err(db_error)?;
                        if failures >= i64::from(max_failures) {
                            sqlx::query(
                                "UPDATE webhook_subscriptions SET enabled = $1, disabled_reason = $2 WHERE id = $3 AND enabled = $4",
                            )
                            .bind(false)
                            .bind(format!("disabled after {failures} failed deliveries in a row; the last: {error}"))
                            .bind(subscription)
                            .bind(true)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(db_error)?;
                        }
                    }
                }
                let updated = load_subscription(&mut w.tx, SubscriptionId::from_uuid(subscription)).await?;
                w.commit().await?;
                Ok(updated)
            }
        }
    };
}

pub(crate) use trades_impl;
