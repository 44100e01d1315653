//! Group commit for the SQLite writer.
//!
//! With `synchronous=FULL` every commit waits for an fsync, and commands of one process queue
//! for the one writer connection, so under concurrent load most of a command's wait was other
//! commands' fsyncs. Here commands that arrive while another is running share its transaction:
//! each joining command runs inside its own savepoint (a command that fails rolls back only its
//! own work; the first, which opened the transaction, rolls the transaction back), and the last
//! command of the group commits for all of them, with one fsync. No command answers
//! before the commit that holds its work is durable, and no reader sees a change before that
//! commit either, so the durability a client observes is exactly `FULL`'s.
//!
//! The group ends when nobody is queued, or when it holds [`MAX_GROUP`] commands or has been
//! open [`MAX_GROUP_AGE`] (bounding the latency of its first command). A command that is
//! dropped half way (an error returned with `?`, a cancelled request) is rolled back by a task
//! its drop spawns, which also commits the group if nobody else will.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::SqliteConnection;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::cache::WriteCache;
use crate::rows::db_error;
use rota_core::store::{StoreError, StoreResult};

/// Commands per group commit at most.
const MAX_GROUP: usize = 16;
/// How long a group stays open at most before its next command commits it.
const MAX_GROUP_AGE: Duration = Duration::from_millis(20);

/// The one writer connection of a SQLite store and the group forming on it.
pub(crate) struct Writer {
    state: Arc<Mutex<State>>,
    /// Commands waiting for the connection.
    queued: AtomicUsize,
    /// Emptied when a group fails to commit: later members of the group read the earlier
    /// members' uncommitted changes into it.
    cache: Arc<WriteCache>,
    timeout: Duration,
}

struct State {
    conn: SqliteConnection,
    /// A transaction is open: the group so far.
    open: Option<Group>,
    /// A command is running (it has not finished).
    in_command: bool,
    /// The running command has a savepoint of its own. The first command of a group has
    /// none: undoing it is rolling back the transaction. That spares it the sub-journal,
    /// where SQLite copies every page a savepoint changes before changing it.
    savepoint: bool,
    /// Numbers the groups, so a member can tell whether its group is still the open one.
    generation: u64,
}

struct Group {
    generation: u64,
    started: Instant,
    /// Finished commands waiting for the group's commit.
    members: Vec<oneshot::Sender<Result<(), String>>>,
}

/// A command's part of a group transaction: the connection with the command's transaction or
/// savepoint open.
pub(crate) struct GroupTx {
    guard: OwnedMutexGuard<State>,
    armed: Armed,
}

/// Settles the writer when a command is dropped before it finished.
struct Armed {
    writer: Arc<Writer>,
    active: bool,
}

impl Drop for Armed {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        // The rollback is async: a task takes the writer once the command's guard is gone.
        // Whichever comes first, that task or the next command, rolls the command back.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(&self.writer).abandon());
        }
    }
}

/// Counts a command as queued until it has the connection (or gives up waiting).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> StoreResult<()> {
    sqlx::raw_sql(sql).execute(conn).await.map_err(db_error)?;
    Ok(())
}

impl Writer {
    pub(crate) fn new(
        conn: SqliteConnection,
        cache: Arc<WriteCache>,
        timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Arc::new(Mutex::new(State {
                conn,
                open: None,
                in_command: false,
                savepoint: false,
                generation: 0,
            })),
            queued: AtomicUsize::new(0),
            cache,
            timeout,
        })
    }

    /// Starts a command: joins the open group or opens one (`BEGIN IMMEDIATE`, which takes
    /// the database write lock before the first read), or opens the command's savepoint in it.
    pub(crate) async fn begin(self: &Arc<Self>) -> StoreResult<GroupTx> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let queued = Queued(&self.queued);
        let guard = tokio::time::timeout(self.timeout, Arc::clone(&self.state).lock_owned())
            .await
            // Waiting for this process's other writers past the timeout is contention, not an
            // outage: the command can be retried as it is.
            .map_err(|e| StoreError::Busy(Box::new(e)))?;
        drop(queued);
        // The statements that move the group's state run in a task of their own, so that a
        // cancelled caller cannot leave them half done; a guard nobody takes back is settled.
        let (hand_back, taken) = oneshot::channel();
        let writer = Arc::clone(self);
        tokio::spawn(async move {
            let mut guard = guard;
            let opened = writer.open_command(&mut guard).await;
            if let Err(Ok(mut guard)) = hand_back.send(opened.map(|()| guard)) {
                writer.settle_abandoned(&mut guard).await;
            }
        });
        let guard = taken
            .await
            .map_err(|_| StoreError::Busy("the writer task stopped".into()))??;
        Ok(GroupTx {
            guard,
            armed: Armed {
                writer: Arc::clone(self),
                active: true,
            },
        })
    }

    /// Runs `sql` (a setting of the connection, such as a pragma) on the writer's connection
    /// outside any transaction, once no command runs and the open group has committed.
    pub(crate) async fn configure(&self, sql: &'static str) -> StoreResult<()> {
        let mut state = self.state.lock().await;
        self.undo_abandoned(&mut state).await;
        self.commit_group(&mut state).await?;
        exec(&mut state.conn, sql).await
    }

    async fn open_command(&self, state: &mut State) -> StoreResult<()> {
        self.undo_abandoned(state).await;
        if state.open.is_none() {
            if let Err(e) = exec(&mut state.conn, "BEGIN IMMEDIATE").await {
                // Nobody joined the transaction yet, if it began at all.
                let _ = exec(&mut state.conn, "ROLLBACK").await;
                return Err(e);
            }
            state.generation += 1;
            state.open = Some(Group {
                generation: state.generation,
                started: Instant::now(),
                members: Vec::new(),
            });
            state.savepoint = false;
        } else {
            exec(&mut state.conn, "SAVEPOINT command").await?;
            state.savepoint = true;
        }
        state.in_command = true;
        Ok(())
    }

    /// Commits the open group, if any, and tells its members how it went.
    async fn commit_group(&self, state: &mut State) -> StoreResult<()> {
        self.commit_group_with(state, "COMMIT").await
    }

    /// Commits the open group with `commit` (`COMMIT`, possibly after statements that must
    /// succeed with it): on any error the whole group rolls back.
    async fn commit_group_with(&self, state: &mut State, commit: &'static str) -> StoreResult<()> {
        let Some(group) = state.open.take() else {
            return Ok(());
        };
        let done = exec(&mut state.conn, commit).await;
        if done.is_err() {
            // The transaction is gone: so is what later members read of earlier ones.
            let _ = exec(&mut state.conn, "ROLLBACK").await;
            self.cache.clear();
        }
        let told = done.as_ref().map(|_| ()).map_err(|e| e.to_string());
        for member in group.members {
            let _ = member.send(told.clone());
        }
        done
    }

    /// Undoes a command that was dropped before it finished: its savepoint rolled back, or
    /// the transaction when the command opened it (nobody else's work is in it then). When
    /// the savepoint cannot be rolled back the whole group must go: its members are told it
    /// failed.
    async fn undo_abandoned(&self, state: &mut State) {
        if !state.in_command {
            return;
        }
        state.in_command = false;
        if state.savepoint {
            if exec(&mut state.conn, "ROLLBACK TO command; RELEASE command")
                .await
                .is_ok()
            {
                return;
            }
        } else {
            // The command opened the transaction, so the group holds no one else's work and
            // the cache holds only committed state.
            state.open = None;
            if exec(&mut state.conn, "ROLLBACK").await.is_ok() {
                return;
            }
        }
        let _ = exec(&mut state.conn, "ROLLBACK").await;
        self.cache.clear();
        if let Some(group) = state.open.take() {
            for member in group.members {
                let _ = member.send(Err("the group transaction was rolled back".into()));
            }
        }
    }

    /// Settles the writer after a command was dropped: the command rolled back, and the
    /// group committed unless another command is queued to continue it.
    async fn abandon(self: Arc<Self>) {
        let mut guard = Arc::clone(&self.state).lock_owned().await;
        self.settle_abandoned(&mut guard).await;
    }

    async fn settle_abandoned(&self, state: &mut State) {
        self.undo_abandoned(state).await;
        if self.queued.load(Ordering::SeqCst) > 0 {
            return;
        }
        let members = state.open.as_ref().map_or(0, |g| g.members.len());
        if members == 0 {
            if state.open.take().is_some() {
                let _ = exec(&mut state.conn, "ROLLBACK").await;
            }
        } else if let Err(e) = self.commit_group(state).await {
            tracing::warn!(error = %e, "a group commit failed");
        }
    }
}

impl GroupTx {
    /// Finishes the command: releases its savepoint (if any), and commits the group unless
    /// another command is waiting to join it. `released` runs once the command's work is in the
    /// group (before the next command takes the connection). Returns once the group that holds
    /// this command's work is durable.
    async fn settle(self, released: impl FnOnce() + Send + 'static) -> StoreResult<()> {
        // In a task of its own: once the command's work is in, a cancelled caller must not
        // stop the group from being committed (or this command from being rolled back).
        tokio::spawn(self.settle_here(released))
            .await
            .map_err(|e| StoreError::Busy(Box::new(e)))?
    }

    async fn settle_here(self, released: impl FnOnce()) -> StoreResult<()> {
        let GroupTx {
            mut guard,
            mut armed,
        } = self;
        let writer = Arc::clone(&armed.writer);
        let state = &mut *guard;
        let Some(group) = state.open.as_ref() else {
            return Err(StoreError::Busy("the group transaction is gone".into()));
        };
        let join = writer.queued.load(Ordering::SeqCst) > 0
            && group.members.len() + 1 < MAX_GROUP
            && group.started.elapsed() < MAX_GROUP_AGE;
        if !join {
            // Release and commit in one round trip; if either fails, the group rolls back.
            state.in_command = false;
            armed.active = false;
            let commit = if state.savepoint {
                "RELEASE command; COMMIT"
            } else {
                "COMMIT"
            };
            writer.commit_group_with(state, commit).await?;
            released();
            return Ok(());
        }
        // On an error from here on, `armed` is still active: its drop settles the writer.
        if state.savepoint {
            exec(&mut state.conn, "RELEASE command").await?;
        }
        state.in_command = false;
        armed.active = false;
        released();
        let Some(group) = state.open.as_mut() else {
            return Err(StoreError::Busy("the group transaction is gone".into()));
        };
        let (sender, mut told) = oneshot::channel();
        group.members.push(sender);
        let generation = group.generation;
        drop(guard);
        loop {
            // The queued command normally commits the group. If it gave up before running,
            // nobody would: so also wait for the connection, and commit the group if it is
            // still the one this command joined.
            tokio::select! {
                result = &mut told => {
                    return result
                        .map_err(|_| StoreError::Busy("the group commit was abandoned".into()))?
                        .map_err(|e| StoreError::Busy(e.into()));
                }
                guard = Arc::clone(&writer.state).lock_owned() => {
                    let mut guard = guard;
                    let state = &mut *guard;
                    writer.undo_abandoned(state).await;
                    if state.open.as_ref().is_some_and(|g| g.generation == generation) {
                        writer.commit_group(state).await?;
                    }
                    // `told` is answered now; the next turn returns it.
                }
            }
        }
    }
}

impl Deref for GroupTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.guard.conn
    }
}

impl DerefMut for GroupTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.guard.conn
    }
}

impl crate::cache::Finish for GroupTx {
    fn finish(
        self,
        visible: impl FnOnce() + Send + 'static,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send {
        self.settle(visible)
    }
}
