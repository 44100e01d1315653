//! How long a whole-schedule version read by the user's script stays exposed to the portal's
//! commits, measured before the batch starts, so that the portal's pace can be set to give the
//! report's share of 409s whatever the machine, the schedule's size and the link.
//!
//! A portal commit makes the script's version stale if the service assigns it after the read
//! of the version and before the check of the request that carries it, or before the read while
//! it is not yet visible to readers. Rather than add up those parts (the service's work after
//! the read, the network, the client, the service's work before the check, the commit's own
//! time, and its wait for the writer while the batch's previous request commits), the window is
//! measured whole: two of the script's cycles run back to back, as the batch runs them, with one
//! portal commit sent at a known offset from the first; the offset is swept in small steps
//! across one cycle, and the window is the number of offsets at which either cycle's request
//! conflicted, times the step. (A commit delayed behind the first cycle's commit can still be
//! under way when the second reads: that part of the window exists only back to back.) The
//! cycles' requests are real swaps (pairs the batch does not touch, swapped and swapped back),
//! so that the service works as it does during the batch: checking, writing and committing 100
//! shifts a request, its log growing under the reads.

use std::time::Duration;

use anyhow::{Context, Result};
use rota_api::schedules::EditBody;
use rota_api::swaps::SwapRequestBody;
use rota_client::{CallOptions, Client};
use rota_core::command::{ConflictScope, EditChange, ItemOutcome, SwapMode};
use rota_core::ids::{ScheduleId, ShiftId};
use rota_core::schedule::TimeWindow;
use tokio::time::Instant;

use crate::portal::PortalPlan;
use crate::strategies::{PlannedSwap, current_version};

/// The sweep's step between two offsets of the commit.
const STEP: Duration = Duration::from_micros(1500);
/// Sweeps, each shifted by a fraction of a step from the last: finer than one step, and
/// several looks at each edge of the window, where a cycle's jitter decides. The pace, and so
/// the share, moves with this measurement's error: with two passes the paces of ten seeds
/// spread ±14% and the shares followed them.
const PASSES: u32 = 5;

/// The window, measured as the module describes. `pairs` are swapped and swapped back by the
/// cycle's requests (atomic, `conflictScope: schedule`, as the user's script sends them; a
/// conflicted request applies nothing). The commits are a supervisor's moves of an open shift,
/// out and back, so the shift ends where it was. All of it comes before the batch.
pub async fn exposure(
    batch: &Client,
    supervisor: &Client,
    schedule: ScheduleId,
    plan: &PortalPlan,
    pairs: &[PlannedSwap],
) -> Result<Duration> {
    let Some((shift, start, end)) = plan.movable() else {
        anyhow::bail!("the week has no open shift to move");
    };
    let back: Vec<PlannedSwap> = pairs
        .iter()
        .map(|s| PlannedSwap {
            original: s.new,
            new: s.original,
            ..*s
        })
        .collect();
    let mut cycle = Cycle {
        client: batch,
        schedule,
        swaps: [pairs.to_vec(), back],
        swapped: false,
    };
    // A cycle's length as it runs warm: the first ones fill caches and open connections.
    cycle.conflicted().await?;
    let mut cycles = Vec::with_capacity(5);
    for _ in 0..5 {
        let started = Instant::now();
        cycle.conflicted().await?;
        cycles.push(started.elapsed());
    }
    cycles.sort_unstable();
    // Offsets across one cycle: a commit sent later than that belongs to the next cycle's
    // offsets, and would be counted twice.
    let span = cycles[cycles.len() / 2];
    let later = jiff::SignedDuration::from_mins(30);
    let mut mover = Mover {
        supervisor,
        shift,
        windows: [
            (start, end),
            (start.checked_add(later)?, end.checked_add(later)?),
        ],
        // An imported shift is at version 1; a move puts it at the version it committed.
        expected: 1,
        moves: 0,
    };
    let mut conflicted = 0u32;
    for pass in 0..PASSES {
        let mut offset = STEP * pass / PASSES;
        while offset < span {
            let began = Instant::now();
            let commit = async {
                tokio::time::sleep_until(began + offset).await;
                mover.commit().await
            };
            let cycles = async {
                let first = cycle.conflicted().await?;
                let second = cycle.conflicted().await?;
                Ok::<_, anyhow::Error>(first || second)
            };
            let (stale, moved) = tokio::join!(cycles, commit);
            moved?;
            if stale? {
                conflicted += 1;
            }
            offset += STEP;
        }
    }
    mover.restore().await?;
    cycle.restore().await?;
    Ok(STEP * conflicted / PASSES)
}

/// The user's script's cycle: read the version, send a request with it.
struct Cycle<'a> {
    client: &'a Client,
    schedule: ScheduleId,
    /// The pairs one way and back.
    swaps: [Vec<PlannedSwap>; 2],
    /// Whether the pairs are swapped now.
    swapped: bool,
}

impl Cycle<'_> {
    /// Runs it once; answers whether the request met a newer version than the one read.
    async fn conflicted(&mut self) -> Result<bool> {
        let version = current_version(self.client, self.schedule)
            .await
            .context("reading the schedule's version")?;
        let body = SwapRequestBody {
            schedule_version_id: version,
            shift_swaps: self.swaps[usize::from(self.swapped)]
                .iter()
                .map(PlannedSwap::body)
                .collect(),
            effective_date: None,
            mode: Some(SwapMode::Atomic),
            conflict_scope: Some(ConflictScope::Schedule),
        };
        match self
            .client
            .shift_swaps(&body, &CallOptions::default())
            .await
        {
            Ok(_) => {
                self.swapped = !self.swapped;
                Ok(false)
            }
            Err(e) if e.problem().is_some_and(|p| p.status == 409) => Ok(true),
            Err(e) => Err(e).context("swapping the calibration's pairs"),
        }
    }

    /// Swaps the pairs back if they are swapped (nothing else commits by then, so it takes
    /// no more than a try or two).
    async fn restore(&mut self) -> Result<()> {
        for _ in 0..3 {
            if !self.swapped {
                return Ok(());
            }
            self.conflicted().await?;
        }
        anyhow::ensure!(!self.swapped, "the calibration's pairs stayed swapped");
        Ok(())
    }
}

/// A supervisor moving one open shift out by half an hour and back.
struct Mover<'a> {
    supervisor: &'a Client,
    shift: ShiftId,
    windows: [(jiff::Timestamp, jiff::Timestamp); 2],
    expected: u64,
    moves: usize,
}

impl Mover<'_> {
    async fn commit(&mut self) -> Result<()> {
        let (start, end) = self.windows[(self.moves + 1) % 2];
        let body = EditBody {
            expected_version: self.expected,
            change: EditChange::Move {
                window: TimeWindow::new(start, end).context("the probe's window")?,
            }
            .into(),
        };
        let answer = self
            .supervisor
            .edit_shift(self.shift, &body, &CallOptions::default())
            .await
            .and_then(|r| r.into_body())
            .context("moving an open shift")?;
        self.moves += 1;
        self.expected = answer
            .results
            .iter()
            .find_map(|r| match r.outcome {
                ItemOutcome::Applied { version } => Some(version.get()),
                _ => None,
            })
            .context("the move answered without its version")?;
        Ok(())
    }

    /// Moves the shift back where it was, if it is out.
    async fn restore(&mut self) -> Result<()> {
        if self.moves % 2 == 1 {
            self.commit().await?;
        }
        Ok(())
    }
}
