//! The run's invariants, checked against its stored history: the final schedule is the replay
//! of its versions, no swap was applied twice, rota's way reported each swap truthfully, and the
//! coverage the commits kept is the coverage of the shifts, now and as of the requirement.

use anyhow::Result;
use rota_client::batch::FinalStatus;
use rota_core::ids::{ScheduleId, ShiftId};
use std::collections::{BTreeMap, HashMap};

use rota_core::coverage;
use rota_core::directory::Agent;
use rota_core::ids::AgentId;
use rota_core::schedule::Shift;
use rota_core::store::{
    CoverageReport, CoverageStore, DirectoryStore, PageRequest, ScheduleStore, ShiftFilter,
};
use rota_core::version::{VersionCause, VersionChanges};
use rota_store::Store;

use crate::strategies::PlannedSwap;

pub struct Check {
    pub replay_matches: bool,
    /// The coverage the commits kept equals the coverage counted afresh from the shifts, now
    /// and as of the version that set the requirement.
    pub coverage_matches: bool,
    /// Intervals (of any skill) below their requirement at the end.
    pub short_intervals: usize,
    /// Swaps that some version applied more than once.
    pub applied_twice: usize,
    /// Swaps reported stale whose shifts the portal did not in fact change.
    pub stale_but_valid: usize,
    /// Swaps reported applied that the history does not show applied.
    pub applied_but_missing: usize,
}

/// The run's invariants, from the stored history: the replay equals the current schedule; each
/// batch swap was applied at most once (and, for rota's way, exactly as reported).
pub async fn verify(
    store: &Store,
    schedule: ScheduleId,
    batch: &[PlannedSwap],
    reports: Option<&[FinalStatus]>,
) -> Result<Check> {
    let history = store.changes_since(schedule, None).await?;
    let replayed = rota_core::replay::replay(&history).map_err(|e| anyhow::anyhow!("{e}"))?;
    let current = store
        .shifts(schedule, ShiftFilter::default(), PageRequest::all())
        .await?
        .items;
    let replay_matches = current.len() == replayed.len()
        && current.iter().all(|s| {
            replayed
                .get(&s.id)
                .is_some_and(|r| r.state == s.state() && r.version == s.version)
        });
    let mut applied_twice = 0;
    let mut stale_but_valid = 0;
    let mut applied_but_missing = 0;
    for (i, swap) in batch.iter().enumerate() {
        let applications = history
            .iter()
            .filter(|v| v.record.cause == VersionCause::BulkSwap)
            .filter(|v| {
                let after = |id: ShiftId| {
                    v.changes
                        .iter()
                        .find(|c| c.shift_id == id)
                        .map(|c| c.after.owner)
                };
                after(swap.original) == Some(Some(swap.counterpart))
                    && after(swap.new) == Some(Some(swap.agent))
            })
            .count();
        if applications > 1 {
            applied_twice += 1;
        }
        let Some(reports) = reports else { continue };
        match reports[i] {
            FinalStatus::Applied if applications != 1 => applied_but_missing += 1,
            FinalStatus::Stale => {
                let touched_by_others = history
                    .iter()
                    .filter(|v| {
                        v.record.cause != VersionCause::BulkSwap
                            && v.record.cause != VersionCause::Import
                    })
                    .any(|v| {
                        v.changes.iter().any(|c| {
                            (c.shift_id == swap.original || c.shift_id == swap.new)
                                && c.before.map(|b| b.owner) != Some(c.after.owner)
                        })
                    });
                if !touched_by_others {
                    stale_but_valid += 1;
                }
            }
            _ => {}
        }
    }
    let (coverage_matches, short_intervals) = coverage(store, schedule, &history, &current).await?;
    Ok(Check {
        replay_matches,
        coverage_matches,
        short_intervals,
        applied_twice,
        stale_but_valid,
        applied_but_missing,
    })
}

/// Whether the kept coverage equals a fresh count from the shifts and their owners' skills, now
/// and as of the last version that set the requirement; and how many intervals are short now.
async fn coverage(
    store: &Store,
    schedule: ScheduleId,
    history: &[VersionChanges],
    current: &[Shift],
) -> Result<(bool, usize)> {
    let now = store.coverage(schedule, None).await?;
    let agents: HashMap<AgentId, Agent> = store
        .agents(now.schedule.business_unit_id, PageRequest::all())
        .await?
        .items
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let counted = |shifts: &[Shift], kept: &CoverageReport| {
        let fresh = coverage::scheduled(&kept.grid, shifts, &agents);
        let kept_minutes: coverage::Delta = kept
            .cells
            .iter()
            .filter(|(_, c)| c.scheduled_minutes != 0)
            .map(|(k, c)| (k.clone(), c.scheduled_minutes))
            .collect();
        fresh == kept_minutes
    };
    let mut matches = counted(current, &now);
    if let Some(set) = history
        .iter()
        .rev()
        .find(|v| v.record.cause == VersionCause::Requirements)
    {
        let version = set.record.version;
        let then = store.coverage(schedule, Some(version)).await?;
        let upto: Vec<VersionChanges> = history
            .iter()
            .filter(|v| v.record.version <= version)
            .cloned()
            .collect();
        let states = rota_core::replay::replay(&upto).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut shifts = Vec::with_capacity(current.len());
        for shift in current {
            let Some(r) = states.get(&shift.id) else {
                continue;
            };
            let mut then_shift = shift.clone();
            then_shift
                .apply(&r.state, r.version)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            shifts.push(then_shift);
        }
        // No later version set the requirement: it stands as that version set it.
        let required = |r: &CoverageReport| -> BTreeMap<_, u32> {
            r.cells
                .iter()
                .filter(|(_, c)| c.required != 0)
                .map(|(k, c)| (k.clone(), c.required))
                .collect()
        };
        matches &= required(&then) == required(&now) && counted(&shifts, &then);
    }
    let short = now
        .cells
        .values()
        .filter(|c| c.scheduled_minutes < i64::from(c.required) * coverage::INTERVAL_MINUTES)
        .count();
    Ok((matches, short))
}
