//! The run's invariants, checked against its stored history: the final schedule is the replay
//! of its versions, no swap was applied twice, and rota's way reported each swap truthfully.

use anyhow::Result;
use rota_client::batch::FinalStatus;
use rota_core::ids::{ScheduleId, ShiftId};
use rota_core::store::{PageRequest, ScheduleStore, ShiftFilter};
use rota_core::version::VersionCause;
use rota_store::Store;

use crate::strategies::PlannedSwap;

pub struct Check {
    pub replay_matches: bool,
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
    Ok(Check {
        replay_matches,
        applied_twice,
        stale_but_valid,
        applied_but_missing,
    })
}
