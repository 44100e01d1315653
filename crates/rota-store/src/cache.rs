//! The write path's cache of decoded schedules and agents.
//!
//! A swap's rules need its agents and all their shifts around the week; reading and decoding
//! them on every request cost more than the rest of the commit together, and more the larger
//! the schedule. The cache keeps them decoded in memory, and every write transaction
//! validates what it uses against numbers it reads under its lock, so the cache can be stale
//! but is never trusted stale:
//! - a schedule's shifts are valid while the schedule's `version` is the one cached: every
//!   change to a shift commits a new version, so a newer version means "re-read the shifts
//!   that version's changes name" (from `shift_changes`), not the whole schedule;
//! - a schedule's coverage (every cell of its week, kept for the coverage guard) is valid at
//!   the same version: every commit that changes it is a version, whose delta the cache
//!   applies (a change of requirement drops it instead, as does a version another writer made);
//! - agents are valid while the store's agent revision (one counter every agent write bumps,
//!   stamping the rows it wrote) is the one cached; a newer revision re-reads just the agents
//!   stamped after it.
//!
//! A commit updates the cache only once the next write transaction of the store reads its work
//! (see [`WriteTx::commit`]): on PostgreSQL once committed; on SQLite once released into the
//! group transaction of the one writer connection, which every later command of the group reads
//! anyway (a group that then fails to commit empties the cache). A transaction that rolls back
//! leaves nothing behind. Writes from another process (a second
//! API node on PostgreSQL, `rota seed` on the same SQLite file) are caught by the same checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rota_core::coverage::{CellsBySkill, Slot};
use rota_core::directory::{Agent, Skill};
use rota_core::engine::Commit;
use rota_core::ids::{AgentId, BusinessUnitId, ScheduleId, ShiftId};
use rota_core::schedule::Shift;
use rota_core::store::StoreResult;
use rota_core::version::{ScheduleVersion, VersionCause};
use rota_core::webhook::Wanted;

use crate::rows::db_error;

/// Schedules kept decoded; the least recently used goes first. A swap uses its week and the
/// weeks either side.
const MAX_SCHEDULES: usize = 24;
/// Agents kept decoded; past this the agent cache starts empty again.
const MAX_AGENTS: usize = 250_000;

#[derive(Default)]
pub(crate) struct WriteCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The agent revision every cached agent is current at; `None` before the first read.
    agents_revision: Option<i64>,
    agents: HashMap<AgentId, Agent>,
    schedules: HashMap<ScheduleId, CachedSchedule>,
    /// Ticks at every use, to find the least recently used schedule.
    clock: u64,
}

struct CachedSchedule {
    version: ScheduleVersion,
    shifts: HashMap<ShiftId, Shift>,
    by_owner: HashMap<AgentId, Vec<ShiftId>>,
    /// The week's coverage at `version`, once a guarded command has read it.
    coverage: Option<CellsBySkill>,
    used: u64,
}

impl CachedSchedule {
    fn new(version: ScheduleVersion, shifts: Vec<Shift>) -> Self {
        let mut cached = Self {
            version,
            shifts: HashMap::with_capacity(shifts.len()),
            by_owner: HashMap::new(),
            coverage: None,
            used: 0,
        };
        for shift in shifts {
            cached.put(shift);
        }
        cached
    }

    /// Inserts or replaces `shift`, keeping the owner index right.
    fn put(&mut self, shift: Shift) {
        let known = self.shifts.get(&shift.id).map(|s| s.owner);
        if known != Some(shift.owner) {
            if let Some(Some(old)) = known
                && let Some(list) = self.by_owner.get_mut(&old)
            {
                list.retain(|id| *id != shift.id);
            }
            if let Some(owner) = shift.owner {
                self.by_owner.entry(owner).or_default().push(shift.id);
            }
        }
        self.shifts.insert(shift.id, shift);
    }
}

/// What a write transaction must read before the cache can serve it.
pub(crate) enum Refresh {
    /// Nothing cached for the schedule: read all its shifts.
    Whole,
    /// Cached at this version: read the shifts changed after it.
    Since(ScheduleVersion),
    Current,
}

impl WriteCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied entry that a version check
        // would trust (entries are replaced whole or updated in version order), so a poisoned
        // cache is still safe to use.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What schedule `id`, at `version` in the database, needs before it can be served.
    pub(crate) fn schedule_refresh(&self, id: ScheduleId, version: ScheduleVersion) -> Refresh {
        match self.lock().schedules.get(&id) {
            Some(c) if c.version == version => Refresh::Current,
            Some(c) if c.version < version => Refresh::Since(c.version),
            _ => Refresh::Whole,
        }
    }

    /// Caches all of schedule `id`'s shifts as of `version`.
    pub(crate) fn put_schedule(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
        shifts: Vec<Shift>,
    ) {
        let mut inner = self.lock();
        if inner.schedules.len() >= MAX_SCHEDULES && !inner.schedules.contains_key(&id) {
            let oldest = inner
                .schedules
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                inner.schedules.remove(&oldest);
            }
        }
        inner
            .schedules
            .insert(id, CachedSchedule::new(version, shifts));
    }

    /// Brings schedule `id` from the version it was cached at to `version`, given the current
    /// rows of the shifts changed in between. Drops the entry if it moved meanwhile.
    pub(crate) fn refresh_schedule(
        &self,
        id: ScheduleId,
        from: ScheduleVersion,
        version: ScheduleVersion,
        changed: Vec<Shift>,
    ) {
        let mut inner = self.lock();
        let Some(cached) = inner.schedules.get_mut(&id) else {
            return;
        };
        if cached.version != from {
            inner.schedules.remove(&id);
            return;
        }
        for shift in changed {
            cached.put(shift);
        }
        cached.version = version;
        // Changed by another writer: its deltas are not known here.
        cached.coverage = None;
    }

    /// The cells of `skills` in the intervals `ranges` of schedule `id`'s coverage, if the
    /// cache holds it at `version`.
    pub(crate) fn coverage<'a>(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
        ranges: &[(Slot, Slot)],
        skills: impl IntoIterator<Item = &'a Skill>,
    ) -> Option<CellsBySkill> {
        let inner = self.lock();
        let cached = inner.schedules.get(&id).filter(|c| c.version == version)?;
        Some(cached.coverage.as_ref()?.subset(ranges, skills))
    }

    /// Keeps schedule `id`'s whole coverage, read at `version`, if its shifts are cached at
    /// that version.
    pub(crate) fn put_coverage(
        &self,
        id: ScheduleId,
        version: ScheduleVersion,
        cells: CellsBySkill,
    ) {
        let mut inner = self.lock();
        if let Some(cached) = inner.schedules.get_mut(&id)
            && cached.version == version
        {
            cached.coverage = Some(cells);
        }
    }

    /// Applies a durable commit made on top of `base`.
    fn committed(&self, base: ScheduleVersion, commit: &Commit) {
        let mut inner = self.lock();
        let id = commit.record.schedule_id;
        let Some(cached) = inner.schedules.get_mut(&id) else {
            return;
        };
        if cached.version != base {
            // Newer: a later transaction (of this group commit, or after it) read the commit
            // back already. Older: it missed versions, which its next validation re-reads.
            return;
        }
        for change in &commit.changes {
            let Some(mut shift) = cached.shifts.get(&change.shift_id).cloned() else {
                // A shift the cache never saw (a commit that creates shifts): read it whole.
                inner.schedules.remove(&id);
                return;
            };
            if shift.apply(&change.after, commit.record.version).is_err() {
                // Not what the engine plans; the database has the truth: read it whole.
                inner.schedules.remove(&id);
                return;
            }
            cached.put(shift);
        }
        cached.version = commit.record.version;
        if commit.record.cause == VersionCause::Requirements {
            cached.coverage = None;
        } else if let Some(cells) = &mut cached.coverage {
            cells.apply(&commit.coverage);
        }
    }

    /// Forgets everything (after a failed group commit whose members read each other's
    /// uncommitted changes).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.schedules.clear();
        inner.agents.clear();
        inner.agents_revision = None;
    }

    /// The agent revision the cached agents are current at.
    pub(crate) fn agents_revision(&self) -> Option<i64> {
        self.lock().agents_revision
    }

    /// Records that the agents are current at `revision`, replacing those in `changed`
    /// (read after `revision` was). `None` for the previous revision empties the cache.
    pub(crate) fn refresh_agents(&self, previous: Option<i64>, revision: i64, changed: Vec<Agent>) {
        let mut inner = self.lock();
        if previous.is_none()
            || inner.agents_revision != previous
            || inner.agents.len() > MAX_AGENTS
        {
            inner.agents.clear();
        }
        for agent in changed {
            inner.agents.insert(agent.id, agent);
        }
        inner.agents_revision = Some(revision);
    }

    /// Adds agents read at the current revision.
    pub(crate) fn put_agents(&self, agents: Vec<Agent>) {
        let mut inner = self.lock();
        for agent in agents {
            inner.agents.insert(agent.id, agent);
        }
    }

    /// Which of `ids` are not cached.
    pub(crate) fn missing_agents(&self, ids: &[AgentId]) -> Vec<AgentId> {
        let inner = self.lock();
        ids.iter()
            .filter(|id| !inner.agents.contains_key(id))
            .copied()
            .collect()
    }

    /// The shifts of `ids` cached for `schedule`, and the ids it does not hold.
    pub(crate) fn touched(
        &self,
        schedule: ScheduleId,
        ids: &[ShiftId],
    ) -> (Vec<Shift>, Vec<ShiftId>) {
        let inner = self.lock();
        let Some(cached) = inner.schedules.get(&schedule) else {
            return (Vec::new(), ids.to_vec());
        };
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match cached.shifts.get(id) {
                Some(s) => found.push(s.clone()),
                None => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// Every shift of `agents` in `schedules` overlapping `[from, to)`.
    pub(crate) fn nearby(
        &self,
        schedules: &[ScheduleId],
        agents: &[AgentId],
        (from, to): (jiff::Timestamp, jiff::Timestamp),
    ) -> Vec<Shift> {
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        let mut out = Vec::new();
        for id in schedules {
            let Some(cached) = inner.schedules.get_mut(id) else {
                continue;
            };
            cached.used = tick;
            for agent in agents {
                let owned = cached.by_owner.get(agent).into_iter().flatten();
                for shift in owned.filter_map(|id| cached.shifts.get(id)) {
                    if shift.window.start() < to && shift.window.end() > from {
                        out.push(shift.clone());
                    }
                }
            }
        }
        out
    }

    /// The cached agents among `ids`.
    pub(crate) fn agents(&self, ids: &[AgentId]) -> Vec<Agent> {
        let inner = self.lock();
        ids.iter()
            .filter_map(|id| inner.agents.get(id).cloned())
            .collect()
    }
}

/// How a backend's write transaction becomes durable.
pub(crate) trait Finish: Send {
    /// Makes the transaction's work durable. `visible` runs once the store's next write
    /// transaction reads that work, which may be before it is durable.
    fn finish(
        self,
        visible: impl FnOnce() + Send + 'static,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send;
}

impl Finish for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn finish(self, visible: impl FnOnce() + Send + 'static) -> StoreResult<()> {
        self.commit().await.map_err(db_error)?;
        visible();
        Ok(())
    }
}

/// A write transaction of either backend (`X`: a PostgreSQL transaction, or a command's part
/// of a SQLite group commit), and the commits it made, which reach the cache once the store's
/// next write transaction reads them (see [`Finish`]).
pub(crate) struct WriteTx<X> {
    pub tx: X,
    pub cache: Arc<WriteCache>,
    /// The event types a business unit's subscriptions want, as read by this transaction's
    /// snapshot, for the events of its commit.
    pub wanted: Option<(BusinessUnitId, Wanted)>,
    /// The business unit's settings as read by this transaction's snapshot (absent: the
    /// defaults), for the command's coverage guard.
    pub settings: Option<Option<String>>,
    committed: Vec<(ScheduleVersion, Commit)>,
}

impl<X: Finish> WriteTx<X> {
    pub(crate) fn new(tx: X, cache: Arc<WriteCache>) -> Self {
        Self {
            tx,
            cache,
            wanted: None,
            settings: None,
            committed: Vec::new(),
        }
    }

    /// Notes a version written on top of `base`, for the cache once the transaction commits.
    pub(crate) fn wrote(&mut self, base: ScheduleVersion, commit: Commit) {
        self.committed.push((base, commit));
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        let Self {
            tx,
            cache,
            committed,
            ..
        } = self;
        tx.finish(move || {
            for (base, commit) in &committed {
                cache.committed(*base, commit);
            }
        })
        .await
    }
}
