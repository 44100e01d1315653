//! Portal users: creating them (with a first one-time sign-in link), new links for the agents
//! of a unit, signing in by password or link, sessions, and setting a password. Passwords are
//! argon2id; sessions live in the database, so any node serves them.

use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jiff::{SignedDuration, Timestamp};
use rota_api::users::{NewUserBody, NewUserResponse, SignInLinkBody, UserBody};
use rota_core::auth::{Action, Lockout, Role, Session, User, UserError};
use rota_core::ids::UserId;
use rota_core::schedule::Schedule;
use rota_core::store::{DirectoryStore, SignInFailures, StoreError, UserStore};
use rota_core::version::ScheduleVersion;

use crate::App;
use crate::caller::Caller;
use crate::error::{AppError, AppResult};
use crate::secrets::{generate_secret, hash};
use crate::sign_in;

/// How long a session lasts from sign-in, whatever is done with it.
pub const SESSION_TTL: SignedDuration = SignedDuration::from_hours(12);
/// How long a one-time sign-in link stays usable.
pub const LINK_TTL: SignedDuration = SignedDuration::from_hours(24);
/// The shortest password taken (NIST SP 800-63B asks at least 8; longer is kinder to the
/// hash).
pub const MIN_PASSWORD: usize = 12;

/// A session just started: the token for the browser's cookie (only its hash is stored).
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub expires_at: Timestamp,
}

/// What a password sign-in came to.
#[derive(Debug)]
pub enum SignIn {
    Started(NewSession),
    /// The username or the address failed too often lately.
    Throttled {
        retry_after: u64,
    },
    /// The user's password is locked after repeated failures, for these minutes more.
    Locked {
        minutes: u64,
    },
    /// Unknown user or wrong password (the two are not told apart).
    Refused,
}

/// What a change of password came to.
#[derive(Debug)]
pub enum PasswordChange {
    Changed(NewSession),
    /// The current password given is not the user's.
    WrongCurrent,
    /// Too many wrong current passwords lately.
    Throttled {
        retry_after: u64,
    },
}

/// A one-time sign-in link for `user`: its path on the service and until when it works. Only
/// its hash is stored.
pub async fn create_link(
    store: &impl UserStore,
    user: UserId,
    now: Timestamp,
) -> Result<(String, Timestamp), StoreError> {
    let token = generate_secret();
    let expires_at = now.checked_add(LINK_TTL).unwrap_or(Timestamp::MAX);
    store
        .create_sign_in_link(&hash(&token), user, expires_at)
        .await?;
    Ok((format!("/portal/link/{token}"), expires_at))
}

/// An argon2id hash of `password` in PHC form (the crate's defaults: OWASP's 19 MiB, two
/// passes), computed off the async threads.
pub async fn hash_password(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn verify_password(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        // A user without a password (or no such user) costs a verification all the same, so
        // the answer's timing does not tell which usernames exist.
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.to_owned());
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Password attempts per username on this node: a lock each, so one username's attempts are
/// verified one after another, and the lockout of usernames nobody has (kept as a real user's
/// is, so that neither the answers nor their timing tell which usernames exist).
#[derive(Default)]
pub(crate) struct Turns {
    turns:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    unknown: std::sync::Mutex<std::collections::HashMap<String, SignInFailures>>,
}

/// Usernames kept at most in either map; past this the idle ones are forgotten.
const MAX_TURNS: usize = 10_000;

impl Turns {
    fn of(&self, name: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if turns.len() >= MAX_TURNS {
            // A lock nobody else holds a handle to is idle.
            turns.retain(|_, turn| std::sync::Arc::strong_count(turn) > 1);
        }
        std::sync::Arc::clone(turns.entry(name.to_owned()).or_default())
    }

    fn unknown_failures(&self, name: &str) -> SignInFailures {
        let unknown = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        unknown.get(name).copied().unwrap_or_default()
    }

    fn unknown_failed(&self, name: &str, now: Timestamp) {
        let mut unknown = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if unknown.len() >= MAX_TURNS {
            unknown.retain(|_, f| f.locked_until.is_some_and(|until| until > now));
        }
        let entry = unknown.entry(name.to_owned()).or_default();
        entry.failures = entry.failures.saturating_add(1);
        entry.locked_until = Lockout::after(entry.failures)
            .and_then(|lock| now.checked_add(lock).ok())
            .or(entry.locked_until);
    }
}

/// The argon2id hash of a random password nobody knows, for the timing of unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Un8c+R7iXhdJ0HgyEZdBqRHunbKvGBvJMrt4ckzfeo";

impl App {
    /// The session a cookie's token names, if it is live.
    pub async fn session(&self, token: &str) -> AppResult<Option<Session>> {
        Ok(self.store.session(&hash(token), self.clock.now()).await?)
    }

    /// Starts a session for `user`.
    pub async fn start_session(&self, user: &User) -> AppResult<NewSession> {
        let token = generate_secret();
        let expires_at = self
            .clock
            .now()
            .checked_add(SESSION_TTL)
            .unwrap_or(Timestamp::MAX);
        self.store
            .create_session(&hash(&token), user.id, &generate_secret(), expires_at)
            .await?;
        Ok(NewSession { token, expires_at })
    }

    /// Ends the session a cookie's token names.
    pub async fn end_session(&self, token: &str) -> AppResult<()> {
        Ok(self.store.end_session(&hash(token)).await?)
    }

    /// A sign-in by username and password. Counted before it is verified, per username and
    /// per address (so concurrent attempts cannot all pass the throttle before any failed),
    /// one attempt at a time per username on this node (so each reads the lockout the one
    /// before it left), and verified under [`App::verifications`]' bound. A username nobody has
    /// locks the same way as a real one, so the answers do not tell which exist.
    pub async fn sign_in_with_password(
        &self,
        username: &str,
        password: String,
        address: Option<IpAddr>,
    ) -> AppResult<SignIn> {
        let keys = sign_in::password_keys(username, address);
        if let Err(retry_after) = self.sign_in.admit(&keys) {
            return Ok(SignIn::Throttled { retry_after });
        }
        let name = username.trim().to_ascii_lowercase();
        let turn = self.turns.of(&name);
        let _turn = turn.lock().await;
        let user = self.store.user_by_name(username).await?;
        let now = self.clock.now();
        let failures = match &user {
            Some(user) => self.store.sign_in_failures(user.id).await?,
            None => self.turns.unknown_failures(&name),
        };
        if let Some(until) = failures.locked_until.filter(|until| *until > now) {
            let minutes = (until.duration_since(now).as_secs() + 59) / 60;
            return Ok(SignIn::Locked {
                minutes: u64::try_from(minutes).unwrap_or(0),
            });
        }
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = {
            let _permit = self
                .verifications
                .acquire()
                .await
                .map_err(AppError::internal)?;
            verify_password(password, phc).await
        };
        // Verified, so the user exists.
        let (true, Some(user)) = (verified, &user) else {
            match &user {
                Some(user) => {
                    self.store.record_sign_in_failure(user.id, now).await?;
                }
                None => self.turns.unknown_failed(&name, now),
            }
            return Ok(SignIn::Refused);
        };
        self.sign_in.forgive(&keys);
        self.store.clear_sign_in_failures(user.id).await?;
        Ok(SignIn::Started(self.start_session(user).await?))
    }

    /// Uses a one-time link: the user it was for and their new session, or `None` when it was
    /// used already or has expired.
    pub async fn sign_in_with_link(&self, token: &str) -> AppResult<Option<(User, NewSession)>> {
        let user = self
            .store
            .redeem_sign_in_link(&hash(token), self.clock.now())
            .await?;
        let Some(user) = user else {
            return Ok(None);
        };
        let session = self.start_session(&user).await?;
        Ok(Some((user, session)))
    }

    /// Marks `version` of `schedule` as what `user` has seen of it. Never past what exists (a
    /// forged version cannot hide changes still to come), and never backwards.
    pub async fn mark_seen(
        &self,
        user: &User,
        schedule: &Schedule,
        version: ScheduleVersion,
    ) -> AppResult<()> {
        let version = version.min(schedule.version);
        Ok(self.store.mark_seen(user.id, schedule.id, version).await?)
    }

    /// Sets `user`'s password: every session of theirs ends, and a new one starts. A user who
    /// has a password already must give it (`current`), checked and counted like a sign-in.
    pub async fn set_password(
        &self,
        user: &User,
        current: &str,
        password: String,
    ) -> AppResult<PasswordChange> {
        if password.chars().count() < MIN_PASSWORD {
            return Err(AppError::unprocessable(
                "password",
                format!("at least {MIN_PASSWORD} characters"),
            ));
        }
        if user.password_hash.is_some() {
            let keys = sign_in::password_keys(&user.username, None);
            if let Err(retry_after) = self.sign_in.admit(&keys) {
                return Ok(PasswordChange::Throttled { retry_after });
            }
            let verified = {
                let _permit = self
                    .verifications
                    .acquire()
                    .await
                    .map_err(AppError::internal)?;
                verify_password(current.to_owned(), user.password_hash.clone()).await
            };
            if !verified {
                return Ok(PasswordChange::WrongCurrent);
            }
            self.sign_in.forgive(&keys);
        }
        let phc = {
            let _permit = self
                .verifications
                .acquire()
                .await
                .map_err(AppError::internal)?;
            hash_password(password)
                .await
                .map_err(|e| AppError::Internal(e.into()))?
        };
        self.store.set_password(user.id, &phc).await?;
        Ok(PasswordChange::Changed(self.start_session(user).await?))
    }

    /// Creates a portal user and their first one-time sign-in link (the person chooses a
    /// password after using it). No idempotency key: a retried create answers
    /// `ALREADY_EXISTS` and changes nothing, so no recorded answer ever holds a sign-in secret.
    pub async fn create_user(
        &self,
        caller: &Caller,
        body: NewUserBody,
    ) -> AppResult<NewUserResponse> {
        let business_unit = match (body.business_unit_id, body.agent_id) {
            (_, Some(agent)) => {
                let found = self.store.agent(agent).await.map_err(|e| match e {
                    StoreError::NotFound { .. } => {
                        AppError::unprocessable("agentId", format!("no agent {agent}"))
                    }
                    other => other.into(),
                })?;
                if body
                    .business_unit_id
                    .is_some_and(|bu| bu != found.business_unit_id)
                {
                    return Err(AppError::unprocessable(
                        "businessUnitId",
                        "the agent belongs to another business unit",
                    ));
                }
                Some(found.business_unit_id)
            }
            (Some(bu), None) => {
                self.store.business_unit(bu).await.map_err(|e| match e {
                    StoreError::NotFound { .. } => {
                        AppError::unprocessable("businessUnitId", format!("no business unit {bu}"))
                    }
                    other => other.into(),
                })?;
                Some(bu)
            }
            (None, None) => None,
        };
        match business_unit {
            Some(bu) => caller.require(Action::CreateUsers, bu, ("business unit", bu))?,
            None if caller.0.role == Role::Admin => {}
            None => {
                return Err(AppError::Forbidden(format!(
                    "client {} may not create users",
                    caller.0.client_id
                )));
            }
        }
        let user = User::new(
            &body.username,
            body.display_name.as_deref().unwrap_or_default(),
            body.role,
            business_unit,
            body.agent_id,
        )
        .map_err(|e| {
            let field = match e {
                UserError::InvalidUsername => "username",
                UserError::AgentWithoutRecord | UserError::RecordWithoutAgent => "agentId",
                UserError::SupervisorWithoutUnit => "businessUnitId",
                UserError::NotAPersonRole => "role",
            };
            match e {
                UserError::InvalidUsername => AppError::validation(field, e.to_string()),
                _ => AppError::unprocessable(field, e.to_string()),
            }
        })?;
        if user.display_name.chars().count() > 200 {
            return Err(AppError::validation(
                "displayName",
                "at most 200 characters",
            ));
        }
        self.store.create_user(&user).await?;
        let (path, expires_at) = create_link(&self.store, user.id, self.clock.now()).await?;
        Ok(NewUserResponse {
            user: UserBody::from(&user),
            sign_in_link: SignInLinkBody { path, expires_at },
        })
    }

    /// A new one-time sign-in link for a user: admins for anyone, supervisors for the agents
    /// of their business unit. Earlier links stay valid until used or expired.
    pub async fn issue_sign_in_link(
        &self,
        caller: &Caller,
        id: UserId,
    ) -> AppResult<SignInLinkBody> {
        let user = self.store.user(id).await?;
        let allowed = match (user.role, user.business_unit) {
            (Role::Agent, Some(bu)) => {
                caller.require(Action::IssueSignInLinks, bu, ("user", id))?;
                true
            }
            _ => caller.0.role == Role::Admin,
        };
        if !allowed {
            return Err(AppError::Forbidden(format!(
                "client {} may issue sign-in links to agents of its unit only",
                caller.0.client_id
            )));
        }
        let (path, expires_at) = create_link(&self.store, user.id, self.clock.now()).await?;
        Ok(SignInLinkBody { path, expires_at })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use rota_core::clock::FixedClock;
    use rota_store::{Durability, SqliteStore, Store};

    use super::*;

    async fn app_with_ana() -> (App, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rota.db").display());
        let store = Store::Sqlite(
            SqliteStore::connect(&url, Durability::Normal)
                .await
                .unwrap(),
        );
        let clock = Arc::new(FixedClock::new("2026-11-30T08:00:00Z".parse().unwrap()));
        let app = App::new(store.clone(), clock, crate::housekeeping::tests::settings());
        let ana = User::new("ana", "Ana", Role::Admin, None, None).unwrap();
        store.create_user(&ana).await.unwrap();
        let phc = hash_password("correct horse battery".into()).await.unwrap();
        store.set_password(ana.id, &phc).await.unwrap();
        (app, dir)
    }

    /// Sixty attempts at once, the right password last: the lockout counts each attempt before
    /// the next is verified, so no more than the free failures are verified and the right one,
    /// arriving locked, does not sign in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_wrong_passwords_lock_before_the_right_one_is_verified() {
        let (app, _dir) = app_with_ana().await;
        let mut attempts = Vec::new();
        for i in 0..60 {
            let app = app.clone();
            let password = if i == 59 {
                "correct horse battery"
            } else {
                "wrong password!"
            };
            attempts.push(tokio::spawn(async move {
                app.sign_in_with_password("ana", password.into(), None)
                    .await
                    .unwrap()
            }));
        }
        let mut refused = 0;
        let mut started = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                SignIn::Refused => refused += 1,
                SignIn::Started(_) => started += 1,
                SignIn::Locked { .. } | SignIn::Throttled { .. } => {}
            }
        }
        assert!(
            refused <= Lockout::FREE_FAILURES,
            "{refused} wrong passwords verified"
        );
        assert_eq!(started, 0, "the right password came in behind the lock");
    }

    /// A username nobody has locks after as many failures as a real one, with the same answer.
    #[tokio::test]
    async fn an_unknown_username_locks_like_a_real_one() {
        let (app, _dir) = app_with_ana().await;
        for name in ["ana", "nobody"] {
            for _ in 0..Lockout::FREE_FAILURES {
                let answer = app.sign_in_with_password(name, "wrong password!".into(), None);
                assert!(matches!(answer.await.unwrap(), SignIn::Refused), "{name}");
            }
            let answer = app.sign_in_with_password(name, "wrong password!".into(), None);
            assert!(
                matches!(answer.await.unwrap(), SignIn::Locked { minutes: 1 }),
                "{name}"
            );
        }
    }
}
