//! Portal users: creating them (with a first one-time sign-in link), new links for the agents
//! of a unit, signing in by password or link, sessions, and setting a password. Passwords are
//! argon2id; sessions live in the database, so any node serves them.

use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jiff::{SignedDuration, Timestamp};
use rota_api::users::{NewUserBody, NewUserResponse, SignInLinkBody, UserBody};
use rota_core::auth::{Action, Role, Session, User, UserError};
use rota_core::ids::UserId;
use rota_core::schedule::Schedule;
use rota_core::store::{DirectoryStore, StoreError, UserStore};
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

    /// A sign-in by username and password, throttled like the token endpoint: per username
    /// and per address; a user's password locks after repeated failures.
    pub async fn sign_in_with_password(
        &self,
        username: &str,
        password: String,
        address: Option<IpAddr>,
    ) -> AppResult<SignIn> {
        let keys = sign_in::keys(
            Some(&format!("user:{}", username.trim().to_ascii_lowercase())),
            address,
        );
        if let Some(retry_after) = self.sign_in.blocked(&keys) {
            return Ok(SignIn::Throttled { retry_after });
        }
        let user = self.store.user_by_name(username).await?;
        let now = self.clock.now();
        if let Some(user) = &user {
            let failures = self.store.sign_in_failures(user.id).await?;
            if let Some(until) = failures.locked_until.filter(|until| *until > now) {
                let minutes = (until.duration_since(now).as_secs() + 59) / 60;
                return Ok(SignIn::Locked {
                    minutes: u64::try_from(minutes).unwrap_or(0),
                });
            }
        }
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        if !verify_password(password, phc).await {
            self.sign_in.failed(&keys);
            if let Some(user) = &user {
                self.store.record_sign_in_failure(user.id, now).await?;
            }
            return Ok(SignIn::Refused);
        }
        // Verified, so the user exists.
        let Some(user) = user else {
            return Ok(SignIn::Refused);
        };
        self.store.clear_sign_in_failures(user.id).await?;
        Ok(SignIn::Started(self.start_session(&user).await?))
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

    /// Sets `user`'s password: every session of theirs ends, and a new one starts.
    pub async fn set_password(&self, user: &User, password: String) -> AppResult<NewSession> {
        if password.chars().count() < MIN_PASSWORD {
            return Err(AppError::unprocessable(
                "password",
                format!("at least {MIN_PASSWORD} characters"),
            ));
        }
        let phc = hash_password(password)
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        self.store.set_password(user.id, &phc).await?;
        self.start_session(user).await
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
            Some(bu) => caller.require(Action::CreateUsers, bu)?,
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
                caller.require(Action::IssueSignInLinks, bu)?;
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
