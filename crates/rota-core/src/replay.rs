//! Rebuilding a schedule from its version history: the schedule as of any version, and the
//! check that the stored state is exactly what the history says.

use std::collections::BTreeMap;

use crate::ids::ShiftId;
use crate::version::{ScheduleVersion, ShiftState, VersionChanges};

/// A shift as the history leaves it: its state and the version that last changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub state: ShiftState,
    pub version: ScheduleVersion,
}

/// Why a history does not replay: each is a broken invariant, never an expected outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("version {found} follows version {previous}; versions must rise by exactly 1")]
    Gap {
        previous: u64,
        found: ScheduleVersion,
    },
    #[error(
        "version {version} changes shift {shift} from a state it did not have (a lost update): \
         recorded {recorded:?}, replayed {replayed:?}"
    )]
    LostUpdate {
        version: ScheduleVersion,
        shift: ShiftId,
        recorded: Box<Option<ShiftState>>,
        replayed: Box<Option<ShiftState>>,
    },
    #[error("version {version} records {recorded} changes but holds {held}")]
    CountMismatch {
        version: ScheduleVersion,
        recorded: u32,
        held: usize,
    },
}

/// Replays `history` (oldest first, from version 1) and returns every shift's final state.
///
/// Each change must start from exactly the state the earlier versions left, so a replay that
/// succeeds also proves that no version was written over a state it did not see.
pub fn replay(history: &[VersionChanges]) -> Result<BTreeMap<ShiftId, Replayed>, ReplayError> {
    let mut shifts: BTreeMap<ShiftId, Replayed> = BTreeMap::new();
    let mut previous = 0u64;
    for entry in history {
        let version = entry.record.version;
        if version.get() != previous + 1 {
            return Err(ReplayError::Gap {
                previous,
                found: version,
            });
        }
        previous = version.get();
        if usize::try_from(entry.record.change_count).ok() != Some(entry.changes.len()) {
            return Err(ReplayError::CountMismatch {
                version,
                recorded: entry.record.change_count,
                held: entry.changes.len(),
            });
        }
        for change in &entry.changes {
            let replayed = shifts.get(&change.shift_id).map(|r| r.state);
            if replayed != change.before {
                return Err(ReplayError::LostUpdate {
                    version,
                    shift: change.shift_id,
                    recorded: Box::new(change.before),
                    replayed: Box::new(replayed),
                });
            }
            shifts.insert(
                change.shift_id,
                Replayed {
                    state: change.after,
                    version,
                },
            );
        }
    }
    Ok(shifts)
}
