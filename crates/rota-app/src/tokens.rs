//! OAuth clients and bearer tokens: registering a client, issuing a token for its secret,
//! resolving a token to its principal (with a per-node cache), and minting one for a person
//! signed in to the portal.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use rota_core::auth::{ApiClient, Principal, Role};
use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::store::{AuthStore, StoreError};
use serde::Serialize;

use crate::caller::Caller;
use crate::error::{AppError, AppResult};
use crate::secrets::{generate_secret, hash, same_secret};
use crate::{App, sign_in};

/// A newly registered client and its secret, shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
    pub role: Role,
}

/// Registers a client: what `rota clients create` runs.
pub async fn create_client(
    store: &impl AuthStore,
    role: Role,
    business_unit: Option<BusinessUnitId>,
    agent: Option<AgentId>,
) -> Result<NewClient, StoreError> {
    let client_id = format!("rota-{}", uuid::Uuid::now_v7().simple());
    let client_secret = generate_secret();
    store
        .create_client(&ApiClient {
            client_id: client_id.clone(),
            secret_hash: hash(&client_secret),
            role,
            business_unit,
            agent,
        })
        .await?;
    Ok(NewClient {
        client_id,
        client_secret,
        role,
    })
}

/// A token issued for a client's credentials.
#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

impl App {
    /// A bearer token for a client's id and secret, or `None` for an unknown client or a wrong
    /// secret. The credentials are checked first (a SHA-256 of a 256-bit secret: cheap, and
    /// not to be guessed), so a flood of wrong ones from an address or for a client id never
    /// refuses the right one; the wrong ones are counted, and past the limit answered
    /// `RATE_LIMITED` instead of `None`. Tokens issued are limited per client and per address.
    pub async fn issue_token(
        &self,
        client_id: &str,
        secret: &str,
        address: Option<IpAddr>,
    ) -> AppResult<Option<IssuedToken>> {
        let keys = sign_in::keys(Some(client_id), address);
        let client = self.store.client(client_id).await?;
        let Some(client) = client.filter(|c| same_secret(&c.secret_hash, &hash(secret))) else {
            let blocked = self.sign_in.blocked(&keys);
            self.sign_in.failed(&keys);
            return match blocked {
                Some(retry_after) => Err(AppError::RateLimited { retry_after }),
                None => Ok(None),
            };
        };
        if let Err(retry_after) = self.sign_in.issue(client_id, address) {
            return Err(AppError::RateLimited { retry_after });
        }
        let now = self.clock.now();
        if self.store.live_tokens(&client.client_id, now).await? >= sign_in::MAX_LIVE_TOKENS {
            return Err(AppError::RateLimited { retry_after: 60 });
        }
        let ttl = self.settings.token_ttl;
        let access_token = self.store_token(&client.principal(), now, ttl).await?;
        Ok(Some(IssuedToken {
            access_token,
            expires_in: ttl.as_secs(),
        }))
    }

    /// A bearer token for `principal`, valid for `ttl`: how the portal's batch runner calls the
    /// API as the person who started it. The principal's client row is made on first use, with
    /// a secret nobody knows (it can never be asked for a token itself).
    pub async fn mint_token(&self, principal: &Principal, ttl: Duration) -> AppResult<String> {
        if self.store.client(&principal.client_id).await?.is_none() {
            let created = self
                .store
                .create_client(&ApiClient {
                    client_id: principal.client_id.clone(),
                    secret_hash: hash(&generate_secret()),
                    role: principal.role,
                    business_unit: principal.business_unit,
                    agent: principal.agent,
                })
                .await;
            match created {
                // Made meanwhile by another request of the same person.
                Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.store_token(principal, self.clock.now(), ttl).await
    }

    async fn store_token(
        &self,
        principal: &Principal,
        now: Timestamp,
        ttl: Duration,
    ) -> AppResult<String> {
        let token = generate_secret();
        let expires_at = now
            .checked_add(SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        self.store
            .store_token(&hash(&token), &principal.client_id, expires_at)
            .await?;
        // Known here from the start: this node answers its own tokens without a database
        // read, even for an address that is being throttled for unknown ones.
        self.tokens.put(hash(&token), principal, expires_at);
        Ok(token)
    }

    /// One request from `client`'s quota shared by every node of the database (PostgreSQL): `None`
    /// where there is none to share (SQLite, one node); else the burst left, or how long to wait.
    /// A database that cannot take the write (read-only after a failover, unreachable) answers
    /// an error, and the node limits on its own meanwhile.
    pub async fn take_shared_quota(
        &self,
        client: &str,
        interval: Duration,
        burst: u32,
    ) -> Option<Result<Result<u32, Duration>, StoreError>> {
        match &self.store {
            rota_store::Store::Postgres(pg) => Some(
                pg.take_quota(client, Timestamp::now(), interval, burst)
                    .await,
            ),
            rota_store::Store::Sqlite(_) => None,
        }
    }

    /// The caller a bearer token stands for: `INVALID_TOKEN` when it is unknown or expired,
    /// `RATE_LIMITED` for an address that keeps sending unknown ones. A valid token is never
    /// refused for what others sent from its address: it is looked up before the address's
    /// count is asked (a token just found unknown is answered from memory, no database read).
    pub async fn authenticate(&self, token: &str, address: Option<IpAddr>) -> AppResult<Caller> {
        let token_hash = hash(token);
        let now = self.clock.now();
        if let Some(principal) = self.tokens.get(&token_hash, now) {
            return Ok(Caller(principal));
        }
        let keys = sign_in::keys(None, address);
        // Past the limit an unknown token is answered 429, counted all the same.
        let refused = || {
            let blocked = self.sign_in.blocked(&keys);
            self.sign_in.failed(&keys);
            match blocked {
                Some(retry_after) => AppError::RateLimited { retry_after },
                None => AppError::InvalidToken("the token is unknown or expired".into()),
            }
        };
        if self.tokens.is_unknown(&token_hash) {
            return Err(refused());
        }
        let Some((principal, expires_at)) = self.store.principal(&token_hash, now).await? else {
            self.tokens.forget_unknown(token_hash);
            return Err(refused());
        };
        self.tokens.put(token_hash, &principal, expires_at);
        Ok(Caller(principal))
    }
}

/// Tokens this node has seen, with their principal and expiry, so that a request does not read
/// its token from the database again. A token is taken from memory for [`KNOWN_FOR`] at most,
/// then read again: `rota clients revoke` (which deletes a client and its tokens) reaches every
/// node within that time. The expiry is checked against the same clock as the database lookup.
#[derive(Default)]
pub struct TokenCache {
    known: Mutex<std::collections::HashMap<String, (Principal, Timestamp, Instant)>>,
    /// Tokens found unknown lately, with when: asked again soon, they cost no database read.
    unknown: Mutex<std::collections::HashMap<String, Instant>>,
}

/// How long a token found unknown is answered from memory. Short: a token issued by another
/// node a moment later is found after it.
const UNKNOWN_FOR: Duration = Duration::from_secs(5);

/// How long a known token is answered from memory before it is read again.
pub const KNOWN_FOR: Duration = Duration::from_secs(30);

/// Tokens kept at most; past this the cache starts empty again.
const MAX_CACHED_TOKENS: usize = 10_000;

impl TokenCache {
    fn get(&self, token_hash: &str, now: Timestamp) -> Option<Principal> {
        let tokens = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .get(token_hash)
            .filter(|(_, expires_at, seen)| *expires_at > now && seen.elapsed() < KNOWN_FOR)
            .map(|(principal, ..)| principal.clone())
    }

    fn is_unknown(&self, token_hash: &str) -> bool {
        let unknown = self.unknown.lock().unwrap_or_else(PoisonError::into_inner);
        unknown
            .get(token_hash)
            .is_some_and(|at| at.elapsed() < UNKNOWN_FOR)
    }

    fn forget_unknown(&self, token_hash: String) {
        let mut unknown = self.unknown.lock().unwrap_or_else(PoisonError::into_inner);
        if unknown.len() >= MAX_CACHED_TOKENS {
            unknown.retain(|_, at| at.elapsed() < UNKNOWN_FOR);
        }
        unknown.insert(token_hash, Instant::now());
    }

    fn put(&self, token_hash: String, principal: &Principal, expires_at: Timestamp) {
        let mut tokens = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        tokens.insert(token_hash, (principal.clone(), expires_at, Instant::now()));
    }
}
