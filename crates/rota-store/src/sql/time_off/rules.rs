//! What an approval would do and break now: the plan per schedule, the minutes it deducts,
//! the balance and the allowance.

use super::*;

/// The schedules of `bu` whose weeks may overlap `[start, end)`, in week order.
pub(super) async fn schedules_over(
    w: &mut Tx,
    bu: BusinessUnitId,
    zone: &Zone,
    (start, end): (Timestamp, Timestamp),
) -> StoreResult<Vec<ScheduleId>> {
    let first = zone
        .local_date(start)
        .checked_sub(jiff::Span::new().days(7))
        .map_err(rows::corrupt)?;
    let last = zone.local_date(end);
    let found = sqlx::query(
        "SELECT id FROM schedules WHERE business_unit_id = $1 AND week_start >= $2 \
         AND week_start <= $3 ORDER BY week_start",
    )
    .bind(bu.as_uuid())
    .bind(first.to_string())
    .bind(last.to_string())
    .fetch_all(&mut *w.tx)
    .await
    .map_err(db_error)?;
    found
        .iter()
        .map(|r| Ok(ScheduleId::from_uuid(r.try_get(0).map_err(db_error)?)))
        .collect()
}

/// What an approval of `req` would do now: the plan per schedule (each locked), the minutes
/// it deducts, and the rules it breaks (coverage only when `coverage`).
pub(super) struct Check {
    pub(super) plans: Vec<(Schedule, TimeOffPlan)>,
    pub(super) deduction: i64,
    pub(super) violations: Vec<Violation>,
}

pub(super) async fn check(
    w: &mut Tx,
    req: &TimeOffRequest,
    zone: &Zone,
    settings: &TimeOffSettings,
    now: Timestamp,
    coverage: bool,
) -> StoreResult<Check> {
    let window = (req.start, req.end);
    let mut plans = Vec::new();
    let mut violations = Vec::new();
    let mut removed = 0;
    let mut days_with_shifts = Vec::new();
    for id in schedules_over(w, req.business_unit_id, zone, window).await? {
        let agent = req.agent_id;
        let mut snap = snapshot(w, id, &[], |_| vec![agent]).await?;
        let (week_from, week_to) = snap.schedule.week_window(&snap.zone);
        if week_to <= req.start || req.end <= week_from {
            continue;
        }
        if coverage {
            let touched: Vec<_> = snap
                .shifts
                .values()
                .filter(|s| s.schedule_id == id && s.owner == Some(agent))
                .filter(|s| s.window.start() < req.end && req.start < s.window.end())
                .map(|s| s.id)
                .collect();
            super::super::coverage::guard(w, &mut snap, Guarded::TimeOff, &touched, None, false)
                .await?;
        }
        let plan = engine::plan_time_off(
            &snap,
            agent,
            window,
            settings.effect,
            settings.min_remainder_minutes,
            now,
        );
        removed += plan.removed_paid_minutes;
        days_with_shifts.extend(plan.days_with_shifts.iter().copied());
        violations.extend(plan.coverage.iter().cloned());
        plans.push((snap.schedule, plan));
    }
    let deduction = if req.paid {
        let free_days = req.days.map_or(0, |d| {
            local_days(zone, req.start, req.end)
                .into_iter()
                .filter(|day| *day >= d.first && *day <= d.last)
                .filter(|day| !days_with_shifts.contains(day))
                .count()
        });
        removed + i64::try_from(free_days).unwrap_or(0) * i64::from(settings.standard_day_minutes)
    } else {
        0
    };
    if req.paid {
        let balance = balance_of(w, req.agent_id, &req.code).await?;
        if deduction > balance {
            violations.push(violation(
                ViolationCode::InsufficientBalance,
                req.agent_id,
                format!(
                    "the request needs {deduction} minutes of `{}`; the balance holds {balance}",
                    req.code
                ),
            ));
        }
    }
    for day in allowance_days(
        &mut w.tx,
        req.business_unit_id,
        zone,
        settings,
        &req.group,
        window,
    )
    .await?
    .into_iter()
    .filter(|d| d.limit.is_some_and(|l| d.approved >= l))
    {
        violations.push(violation(
            ViolationCode::AllowanceFull,
            req.agent_id,
            format!(
                "the allowance of `{}` on {} is taken: {} of {} agents off",
                day.group,
                day.date,
                day.approved,
                day.limit.unwrap_or_default()
            ),
        ));
    }
    Ok(Check {
        plans,
        deduction,
        violations,
    })
}

pub(super) async fn balance_of(
    w: &mut Tx,
    agent: AgentId,
    code: &ActivityCode,
) -> StoreResult<i64> {
    let minutes: Option<i64> = sqlx::query_scalar(
        "SELECT minutes FROM time_off_balances WHERE agent_id = $1 AND code = $2",
    )
    .bind(agent.as_uuid())
    .bind(code.as_str().to_owned())
    .fetch_optional(&mut *w.tx)
    .await
    .map_err(db_error)?;
    Ok(minutes.unwrap_or(0))
}

pub(super) async fn add_balance(
    w: &mut Tx,
    agent: AgentId,
    code: &ActivityCode,
    add: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO time_off_balances (agent_id, code, minutes) VALUES ($1, $2, $3) \
         ON CONFLICT (agent_id, code) DO UPDATE SET minutes = time_off_balances.minutes + excluded.minutes",
    )
    .bind(agent.as_uuid())
    .bind(code.as_str().to_owned())
    .bind(add)
    .execute(&mut *w.tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Each local day `window` touches, for `group`: its limit and the agents approved and
/// waitlisted then.
pub(super) async fn allowance_days(
    conn: &mut Conn,
    bu: BusinessUnitId,
    zone: &Zone,
    settings: &TimeOffSettings,
    group: &str,
    (start, end): (Timestamp, Timestamp),
) -> StoreResult<Vec<AllowanceDay>> {
    let days = local_days(zone, start, end);
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let set = sqlx::query(
        "SELECT day, agents FROM time_off_allowances WHERE business_unit_id = $1 AND grp = $2 \
         AND day >= $3 AND day <= $4",
    )
    .bind(bu.as_uuid())
    .bind(group.to_owned())
    .bind(first.to_string())
    .bind(last.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut limits = BTreeMap::new();
    for r in &set {
        let day: String = r.try_get(0).map_err(db_error)?;
        let agents: i64 = r.try_get(1).map_err(db_error)?;
        limits.insert(
            day.parse::<Date>().map_err(rows::corrupt)?,
            u32::try_from(agents).map_err(rows::corrupt)?,
        );
    }
    let from = zone.instant(*first, 0);
    let to = zone.instant(last.tomorrow().map_err(rows::corrupt)?, 0);
    let taken = sqlx::query(
        "SELECT state, start_at, end_at FROM time_off_requests WHERE business_unit_id = $1 \
         AND grp = $2 AND state IN ('approved', 'waitlisted') AND start_at < $3 AND end_at > $4",
    )
    .bind(bu.as_uuid())
    .bind(group.to_owned())
    .bind(micros(to))
    .bind(micros(from))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut out: Vec<AllowanceDay> = days
        .iter()
        .map(|d| AllowanceDay {
            group: group.to_owned(),
            date: *d,
            limit: limits
                .get(d)
                .copied()
                .or_else(|| settings.daily_allowance.get(group).copied()),
            approved: 0,
            waitlisted: 0,
        })
        .collect();
    for r in &taken {
        let state: String = r.try_get(0).map_err(db_error)?;
        let s = rows::instant(r.try_get(1).map_err(db_error)?)?;
        let e = rows::instant(r.try_get(2).map_err(db_error)?)?;
        for day in local_days(zone, s, e) {
            if let Some(d) = out.iter_mut().find(|d| d.date == day) {
                if state == "approved" {
                    d.approved += 1;
                } else {
                    d.waitlisted += 1;
                }
            }
        }
    }
    Ok(out)
}

/// `dates` as runs of consecutive days (first, last), in order: what `set_allowances` reads and
/// promotes, one window a run. A month set day by day is one window; days far apart are not a
/// window of every day between them (two dates centuries apart were millions of days, read and
/// promoted in one request).
pub(super) fn runs_of_days(
    dates: impl Iterator<Item = jiff::civil::Date>,
) -> Vec<(jiff::civil::Date, jiff::civil::Date)> {
    let mut dates: Vec<jiff::civil::Date> = dates.collect();
    dates.sort_unstable();
    dates.dedup();
    let mut runs: Vec<(jiff::civil::Date, jiff::civil::Date)> = Vec::new();
    for date in dates {
        match runs.last_mut() {
            Some((_, last)) if last.tomorrow().ok() == Some(date) => *last = date,
            _ => runs.push((date, date)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::runs_of_days;

    #[test]
    fn allowance_days_are_read_in_runs_not_from_the_first_to_the_last() {
        let days = [
            date(2026, 12, 2),
            date(14, 7, 30),
            date(2026, 12, 1),
            date(5689, 5, 5),
            date(2026, 12, 1),
            date(2026, 12, 3),
            date(2026, 12, 31),
            date(2027, 1, 1),
        ];
        assert_eq!(
            runs_of_days(days.into_iter()),
            vec![
                (date(14, 7, 30), date(14, 7, 30)),
                (date(2026, 12, 1), date(2026, 12, 3)),
                (date(2026, 12, 31), date(2027, 1, 1)),
                (date(5689, 5, 5), date(5689, 5, 5)),
            ]
        );
    }
}
